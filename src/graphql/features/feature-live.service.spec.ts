import { ChangeFeed, type Change } from '../../changes/change-feed.js';
import { EventProcessor } from '../../ingest/event-processor.js';
import { Router } from '../../ingest/router.js';
import { createLogger } from '../../ops/logger.js';
import { Metrics } from '../../ops/metrics.js';
import { parsePipeline } from '../../pipeline/load.js';
import { storesFor } from '../../../test/support/stores.js';
import { FeatureLiveService } from './feature-live.service.js';

const pipeline = parsePipeline(
  `
sources: [{ name: tx, timestamp: ts, lateness: 1h }]
features:
  - { name: spend, source: tx, entity: card, aggregation: sum, field: amount, windows: [1h] }
  - { name: amt, source: tx, entity: card, aggregation: sum, field: amount, windows: [5s] }
`,
  'test',
);
const T0 = Date.UTC(2026, 10, 26, 12);

function setup() {
  let now = T0;
  const clock = () => now;
  const stores = storesFor(pipeline);
  const changes = new ChangeFeed<Change>();
  const processor = new EventProcessor(new Router(pipeline), stores, changes, new Metrics(), createLogger('silent'), clock);
  const live = new FeatureLiveService(stores.features, changes, clock);
  const send = (card: string, amount: number, after = 1_000) => {
    now += after;
    processor.ingest('tx', [{ card, amount, ts: now }]);
  };
  return { live, send, changes, wait: (ms: number) => (now += ms) };
}

describe(FeatureLiveService.name, () => {
  it('gives every subscription of one (feature, entity, window) the same value object per change, computed once', async () => {
    const { live, send } = setup();
    const subs = [live.featureUpdated('spend', 'c1', '1h'), live.featureUpdated('spend', 'c1', '1h'), live.featureUpdated('spend', 'c1', '1h')];
    const other = live.featureUpdated('spend', 'c2', '1h');
    expect(live.watched).toBe(2);

    const pulls = subs.map((s) => s.next());
    const otherPull = other.next();
    send('c1', 5);
    send('c1', 2); // coalesced with the first: one message with the latest value
    const got = await Promise.all(pulls);
    expect(got[0]!.value).toMatchObject({ name: 'spend', entity: 'c1', window: '1h', value: 7 });
    expect(got[1]!.value).toBe(got[0]!.value);
    expect(got[2]!.value).toBe(got[0]!.value);

    send('c2', 1);
    expect((await otherPull).value).toMatchObject({ entity: 'c2', value: 1 });

    // the next change is a new object, again shared
    const again = subs.map((s) => s.next());
    send('c1', 1);
    const got2 = await Promise.all(again);
    expect(got2[0]!.value).toMatchObject({ value: 8 });
    expect(got2[0]!.value).not.toBe(got[0]!.value);
    expect(got2[2]!.value).toBe(got2[0]!.value);
  });

  it('keeps a change-feed listener while one subscription of the triple lives, and drops it with the last', async () => {
    const { live, send } = setup();
    const a = live.featureUpdated('spend', 'c1', '1h');
    const b = live.featureUpdated('spend', 'c1', '1h');
    await a.return();
    expect(live.watched).toBe(1);
    const pull = b.next();
    send('c1', 3);
    expect((await pull).value).toMatchObject({ value: 3 });
    await b.return();
    expect(live.watched).toBe(0);
    // a new subscription after all closed starts a fresh listener
    const c = live.featureUpdated('spend', 'c1', '1h');
    const pc = c.next();
    send('c1', 4);
    expect((await pc).value).toMatchObject({ value: 7 });
  });

  it('alerts again on a card that went quiet and came back: a drained window re-arms the threshold', async () => {
    const { live, send } = setup();
    const alerts = live.featureThreshold('amt', '5s', 1000);
    const first = alerts.next();
    send('c1', 1200);
    expect((await first).value).toMatchObject({ entity: 'c1', window: '5s', value: 1200 });
    const second = alerts.next();
    send('c1', 10); // still above: no second alert
    send('c1', 1500, 8_000); // 8 s later the window had drained
    expect((await second).value).toMatchObject({ entity: 'c1', value: 1500 });
    await alerts.return();
  });

  it('pushes a crossing that tiles leaving the window cause, with no event, on its own timer', async () => {
    // min over 5 s rises when its smallest value leaves the window.
    let now = T0;
    const minPipeline = parsePipeline(`
sources: [{ name: tx, timestamp: ts }]
features: [{ name: low, source: tx, entity: card, aggregation: min, field: amount, windows: [5s] }]
`);
    const stores = storesFor(minPipeline);
    const changes = new ChangeFeed<Change>();
    const processor = new EventProcessor(new Router(minPipeline), stores, changes, new Metrics(), createLogger('silent'), () => now);
    const live = new FeatureLiveService(stores.features, changes, () => now);
    const lows = live.featureThreshold('low', '5s', 50);
    processor.ingest('tx', [{ card: 'm', amount: 10, ts: now }]);
    now += 3_000;
    processor.ingest('tx', [{ card: 'm', amount: 90, ts: now }]);
    const rise = lows.next();
    now += 2_600; // the 10 has left the window, the 90 remains: the next timer tick sees it
    expect((await rise).value).toMatchObject({ entity: 'm', value: 90 });
    await lows.return();
  });

  it('refuses an unknown feature or window before subscribing', () => {
    const { live } = setup();
    expect(() => live.featureUpdated('nope', 'c1', '1h')).toThrow(/nope/);
    expect(() => live.featureUpdated('spend', 'c1', '7h')).toThrow(/7h/);
    expect(live.watched).toBe(0);
  });
});
