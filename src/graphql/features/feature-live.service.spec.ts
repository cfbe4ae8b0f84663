import { jest } from '@jest/globals';
import { FeatureModel } from '../../../test/support/feature-model.js';
import fc from 'fast-check';
import { tileWidthFor } from '../../features/index.js';
import { InputError } from '../../input-error.js';
import { parsePipeline } from '../../pipeline/load.js';
import { ingestPathFor } from '../../../test/support/stores.js';
import { FeatureLiveService } from './feature-live.service.js';
import type { FeatureValue } from './models/feature-value.model.js';

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
  const { stores, changes, processor } = ingestPathFor(pipeline, clock);
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
    const alerts = live.featureThreshold('amt', '5s', { above: 1000 });
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
    const { stores, changes, processor } = ingestPathFor(minPipeline, () => now);
    const live = new FeatureLiveService(stores.features, changes, () => now);
    const lows = live.featureThreshold('low', '5s', { above: 50 });
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

  describe('on a fake clock (timers and Date)', () => {
    afterEach(() => {
      jest.useRealTimers();
    });

    const decayPipeline = parsePipeline(`
sources: [{ name: ev, timestamp: ts, lateness: 1h }]
features:
  - { name: n, source: ev, entity: k, aggregation: count, windows: [5s, 1m] }
  - { name: total, source: ev, entity: k, aggregation: sum, field: x, windows: [5s, 1m] }
  - { name: low, source: ev, entity: k, aggregation: min, field: x, windows: [5s, 1m] }
  - { name: high, source: ev, entity: k, aggregation: max, field: x, windows: [5s, 1m] }
  - { name: mean, source: ev, entity: k, aggregation: avg, field: x, windows: [5s, 1m] }
`);
    type Agg = 'count' | 'sum' | 'min' | 'max' | 'avg';
    const FEATURE: Record<Agg, string> = { count: 'n', sum: 'total', min: 'low', max: 'high', avg: 'mean' };

    /** Lets due timers run and the queues release (a real setImmediate) what they hold. */
    async function settle(): Promise<void> {
      await jest.advanceTimersByTimeAsync(0);
      await new Promise((r) => setImmediate(r));
      await new Promise((r) => setImmediate(r));
    }

    /** Moves the fake clock by `ms` at most `step` at a time, settling after each step. */
    async function advance(ms: number, step: number): Promise<void> {
      for (let left = ms; left > 0; left -= step) {
        await jest.advanceTimersByTimeAsync(Math.min(left, step));
        await settle();
      }
    }

    /** Tally on fake timers: `clock` is Date.now(), which jest moves with the timers. */
    function fakeSetup() {
      // setImmediate stays real: the queues release on it, and a fake one scheduled at the very
      // end of an advance is not run by the next advance of 0 ms.
      jest.useFakeTimers({ now: T0, doNotFake: ['setImmediate'] });
      const clock = () => Date.now();
      const { stores, changes, processor } = ingestPathFor(decayPipeline, clock);
      const live = new FeatureLiveService(stores.features, changes, clock);
      /** Every value a subscription pushes, in order, as long as it is open. */
      const drain = (queue: AsyncIterable<FeatureValue>) => {
        const got: FeatureValue[] = [];
        void (async () => {
          for await (const v of queue) got.push(v);
        })();
        return got;
      };
      return { live, drain, send: (k: string, x: number) => processor.ingest('ev', [{ k, x, ts: clock() }]), settle };
    }


    const step = fc.record({ gap: fc.integer({ min: 0, max: 4_000 }), k: fc.constantFrom('a', 'b'), x: fc.integer({ min: -5, max: 20 }) });

    it.each<[Agg, string]>([
      ['count', '5s'],
      ['count', '1m'],
      ['sum', '5s'],
      ['sum', '1m'],
      ['min', '5s'],
      ['max', '5s'],
      ['avg', '5s'],
    ])(
      'pushes %s over %s as a model evaluated at every event and every tile boundary does, and falls to its empty value as the window drains',
      async (agg, window) => {
        const windowMs = window === '5s' ? 5_000 : 60_000;
        const width = tileWidthFor(windowMs);
        const empty = agg === 'count' ? 0 : null;
        await fc.assert(
          fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 40 }), async (steps) => {
            const { live, drain, send, settle } = fakeSetup();
            try {
              const name = FEATURE[agg];
              const got = drain(live.featureUpdated(name, 'a', window));
              const alsoGot = drain(live.featureUpdated(name, 'a', window)); // shares every value object
              const events = new FeatureModel(agg);
              const want: { value: number | null; at: number }[] = [];
              let last = events.read('a', windowMs, T0); // the value at subscription, not pushed
              let boundary = Math.floor((T0 - windowMs) / width) * width + windowMs + width; // first time a tile leaves after T0
              /** The model at each tile boundary up to `until`: a push when the value differs from the last pushed. */
              const boundaries = (until: number) => {
                for (; boundary <= until; boundary += width) {
                  const v = events.read('a', windowMs, boundary);
                  if (v !== last) want.push({ value: (last = v), at: boundary });
                }
              };
              let now = T0;
              for (const s of steps) {
                now += s.gap;
                boundaries(now);
                // One tile boundary per step at most, each pulled before the next (and before
                // an event at the same millisecond), so none shares a coalescing tick.
                await advance(s.gap, width);
                send(s.k, s.x);
                events.add(s.k, s.x, now);
                if (s.k === 'a') want.push({ value: (last = events.read('a', windowMs, now)), at: now });
                await settle();
              }
              // No more events: the window drains and the value falls to 0 (count) or null.
              const late = now + windowMs + 2 * width;
              boundaries(late);
              await advance(late - now, width);
              expect(got.map((v) => ({ value: v.value, at: v.asOf.getTime() }))).toEqual(want);
              expect(got.at(-1)?.value ?? empty).toBe(empty);
              expect(alsoGot).toHaveLength(got.length);
              alsoGot.forEach((v, i) => expect(v).toBe(got[i]));
              // A drained window keeps no timer.
              expect(jest.getTimerCount()).toBe(0);
            } finally {
              jest.useRealTimers();
            }
          }),
          { numRuns: 40, ...(process.env.TALLY_FC_SEED ? { seed: Number(process.env.TALLY_FC_SEED), path: process.env.TALLY_FC_PATH } : {}) },
        );
      },
    );

    it('arms no timer for a drained entity, and drops the timer with the last subscriber', async () => {
      const { live, send, settle } = fakeSetup();
      const idle = live.featureUpdated('total', 'nobody', '5s');
      expect(jest.getTimerCount()).toBe(0);
      const busy = live.featureUpdated('total', 'a', '5s');
      send('a', 3);
      await settle();
      expect((await busy.next()).value).toMatchObject({ value: 3 });
      expect(jest.getTimerCount()).toBe(1);
      const again = live.featureUpdated('total', 'a', '5s'); // shares the timer
      expect(jest.getTimerCount()).toBe(1);
      await busy.return();
      expect(jest.getTimerCount()).toBe(1);
      await again.return();
      expect(jest.getTimerCount()).toBe(0);
      await idle.return();
      expect(live.watched).toBe(0);
    });

    it('pushes a count falling tile by tile to 0 with no event, then nothing', async () => {
      const { live, drain, send, settle } = fakeSetup();
      const got = drain(live.featureUpdated('n', 'a', '5s'));
      send('a', 1);
      await jest.advanceTimersByTimeAsync(1_000);
      send('a', 1);
      await settle();
      await jest.advanceTimersByTimeAsync(30_000);
      expect(got.map((v) => v.value)).toEqual([1, 2, 1, 0]);
      // the 250 ms tile of T0 leaves at T0 + 5.25 s; that of T0 + 1 s at T0 + 6.25 s
      expect(got.slice(2).map((v) => v.asOf.getTime() - T0)).toEqual([5_250, 6_250]);
    });

    it('alerts `below` when a heartbeat count drains, with no event, once', async () => {
      const { live, send, settle } = fakeSetup();
      const alerts = live.featureThreshold('n', '5s', { below: 1 });
      const got: unknown[] = [];
      void (async () => {
        for await (const c of alerts) got.push(c);
      })();
      send('h1', 1); // 1: armed
      send('h2', 1);
      await jest.advanceTimersByTimeAsync(2_000);
      send('h2', 1); // h2 beats on
      await settle();
      expect(got).toEqual([]);
      await jest.advanceTimersByTimeAsync(3_500); // h1's beat left the window at T0 + 5.25 s
      expect(got).toEqual([{ name: 'n', entity: 'h1', window: '5s', value: 0, at: new Date(T0 + 5_250), direction: 'below', threshold: 1 }]);
      await jest.advanceTimersByTimeAsync(10_000);
      expect(got.map((c) => (c as { entity: string }).entity)).toEqual(['h1', 'h2']);
      await alerts.return();
      expect(jest.getTimerCount()).toBe(0);
    });

    it('refuses a threshold with neither or both of `above` and `below` as bad input', () => {
      const { live } = fakeSetup();
      expect(() => live.featureThreshold('n', '5s', {})).toThrow(InputError);
      expect(() => live.featureThreshold('n', '5s', { above: 1, below: 2 })).toThrow(/exactly one of `above` and `below`/);
      expect(jest.getTimerCount()).toBe(0);
    });
  });
});
