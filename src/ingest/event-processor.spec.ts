import { ChangeFeed, featureTopic, type Change } from '../changes/change-feed.js';
import { FeatureStore, ViewStore } from '../features/index.js';
import { GeoStore } from '../geo/index.js';
import { LeaderboardStore } from '../leaderboard/index.js';
import { createLogger } from '../ops/logger.js';
import { Metrics } from '../ops/metrics.js';
import { parsePipeline } from '../pipeline/load.js';
import { EventProcessor } from './event-processor.js';
import { Router } from './router.js';

const pipeline = parsePipeline(`
sources: [{ name: tx, timestamp: ts, lateness: 10s }]
features:
  - { name: n, source: tx, entity: card, aggregation: count, windows: [1h] }
  - { name: s, source: tx, entity: card, aggregation: sum, field: amount, windows: [1h] }
`);
const T = Date.UTC(2026, 10, 25, 12);

function setup() {
  const store = new FeatureStore(pipeline.features);
  const changes = new ChangeFeed<Change>();
  const metrics = new Metrics();
  const sut = new EventProcessor(new Router(pipeline), { features: store, views: new ViewStore(pipeline.views), leaderboards: new LeaderboardStore(), geo: new GeoStore() }, changes, metrics, createLogger('silent'), () => T);
  return { sut, store, changes, metrics };
}

describe(EventProcessor.name, () => {
  it('applies good events, refuses bad ones with their index and reason, and counts both', async () => {
    const { sut, store, metrics } = setup();
    const out = sut.ingest('tx', [{ card: 'a', amount: 2, ts: T }, { card: 'a', ts: T }, { card: 'a', amount: 3, ts: T - 1 }]);
    expect(out).toEqual({ accepted: 2, rejected: 1, errors: [{ index: 1, message: 'missing-field: missing field "amount"' }] });
    expect(store.read('s', 'a', '1h', T).value).toBe(5);
    expect(store.read('n', 'a', '1h', T).value).toBe(2);
    const text = await metrics.text();
    expect(text).toContain('tally_events_accepted_total{source="tx"} 2');
    expect(text).toContain('tally_events_rejected_total{source="tx",reason="missing-field"} 1');
  });

  it('applies nothing of an event one of whose stores refuses it', () => {
    const { sut, store } = setup();
    sut.ingest('tx', [{ card: 'a', amount: 'x', ts: T }]);
    expect(store.read('n', 'a', '1h', T).value).toBe(0);
  });

  it('refuses events later than the allowed lateness as late, and takes out-of-order events within it', () => {
    const { sut, store } = setup();
    const out = sut.ingest('tx', [
      { card: 'a', amount: 1, ts: T },
      { card: 'a', amount: 1, ts: T - 10_000 },
      { card: 'a', amount: 1, ts: T - 10_001 },
    ]);
    expect(out.accepted).toBe(2);
    expect(out.errors[0].index).toBe(2);
    expect(out.errors[0].message).toMatch(/^late: event time 2026-11-25T11:59:49.999Z is older than the watermark 2026-11-25T12:00:00.000Z minus the allowed lateness of 10000 ms/);
    expect(store.read('n', 'a', '1h', T).value).toBe(2);
  });

  it('keeps a watermark per partition', () => {
    const { sut } = setup();
    const msg = (ts: number) => Buffer.from(JSON.stringify({ card: 'a', amount: 1, ts }));
    expect(sut.ingestRaw('tx', msg(T), 0, T).ok).toBe(true);
    expect(sut.ingestRaw('tx', msg(T - 3_600_000), 1, T).ok).toBe(true);
    expect(sut.ingestRaw('tx', msg(T - 3_600_000), 0, T).ok).toBe(false);
  });

  it('publishes a change per feature and entity', () => {
    const { sut, changes } = setup();
    const seen: Change[] = [];
    changes.subscribe(featureTopic('s', 'a'), (c) => seen.push(c));
    sut.ingest('tx', [{ card: 'a', amount: 1, ts: T }, { card: 'b', amount: 1, ts: T }]);
    expect(seen).toEqual([{ kind: 'feature', name: 's', entity: 'a', ts: T }]);
  });
});

describe('EventProcessor with a failing store', () => {
  it('refuses the event as internal-error instead of throwing, so ingest goes on', () => {
    const { store } = setup();
    const broken = { ...store, update: () => { throw new Error('boom'); } } as unknown as FeatureStore;
    const sut = new EventProcessor(new Router(pipeline), { features: broken, views: new ViewStore([]), leaderboards: new LeaderboardStore(), geo: new GeoStore() }, new ChangeFeed(), new Metrics(), createLogger('silent'), () => T);
    expect(sut.ingest('tx', [{ card: 'a', amount: 1, ts: T }])).toEqual({ accepted: 0, rejected: 1, errors: [{ index: 0, message: 'internal-error: could not apply the event: boom' }] });
  });
});
