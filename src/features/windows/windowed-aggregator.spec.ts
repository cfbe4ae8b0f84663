import fc from 'fast-check';
import { WindowedAggregator, type WindowDefinition } from './windowed-aggregator.js';
import { FeatureModel } from '../../../test/support/feature-model.js';
import type { Aggregation } from '../../pipeline/pipeline.js';

const SEC = 1_000;
const MIN = 60 * SEC;
const HOUR = 60 * MIN;
const WINDOWS: WindowDefinition[] = [
  { label: '1m', ms: MIN },
  { label: '5m', ms: 5 * MIN },
  { label: '1h', ms: HOUR },
  { label: '24h', ms: 24 * HOUR },
  { label: 'lifetime', ms: Number.POSITIVE_INFINITY },
];
const T0 = Date.UTC(2026, 10, 25, 12, 0, 0);

/** An event stream over a few entities: mostly in order, with out-of-order and very late events. */
const streamArb = fc.array(
  fc.record({
    entity: fc.constantFrom('a', 'b', 'c'),
    value: fc.integer({ min: 1, max: 1000 }),
    // Steps forward in time, sometimes backwards (out of order), sometimes far back (late).
    step: fc.oneof({ weight: 6, arbitrary: fc.integer({ min: 0, max: 20 * SEC }) }, { weight: 2, arbitrary: fc.integer({ min: -2 * MIN, max: 0 }) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 3 * HOUR }) }, { weight: 1, arbitrary: fc.integer({ min: -30 * HOUR, max: -HOUR }) }),
  }),
  { minLength: 1, maxLength: 150 },
);

const readDelays = fc.array(fc.integer({ min: 0, max: 30 * HOUR }), { minLength: 1, maxLength: 6 });

function run(aggregation: Aggregation, check: (tally: number | null, model: number | null) => void) {
  fc.assert(
    fc.property(streamArb, readDelays, (events, delays) => {
      const sut = new WindowedAggregator({ name: 'f', aggregation, quantile: 0.9, windows: WINDOWS });
      const model = new FeatureModel(aggregation, 0.9);
      let ts = T0;
      let newest = T0;
      for (const e of events) {
        ts += e.step;
        newest = Math.max(newest, ts);
        sut.update(e.entity, e.value, ts);
        model.add(e.entity, e.value, ts);
      }
      for (const d of delays) {
        const now = newest + d;
        for (const entity of ['a', 'b', 'c', 'unknown']) {
          for (const w of WINDOWS) check(sut.read(entity, w.label, now).value, model.read(entity, w.ms, now));
        }
      }
    }),
    { numRuns: 150 },
  );
}

describe(WindowedAggregator.name, () => {
  it.each<Aggregation>(['count', 'sum', 'min', 'max', 'last', 'distinct'])('%s equals the brute-force model on every window', (aggregation) => {
    run(aggregation, (tally, model) => expect(tally).toBe(model));
  });

  it('avg equals the brute-force model (to rounding)', () => {
    run('avg', (tally, model) => {
      if (model === null) expect(tally).toBeNull();
      else expect(tally).toBeCloseTo(model, 9);
    });
  });

  it('quantile stays within the stated 1 % relative accuracy of the exact quantile', () => {
    run('quantile', (tally, model) => {
      if (model === null) expect(tally).toBeNull();
      else expect(Math.abs((tally as number) - model)).toBeLessThanOrEqual(model * 0.01 + 1e-9);
    });
  });

  it('distinct stays within 3 standard errors (4.9 %) once dense', () => {
    const sut = new WindowedAggregator({ name: 'd', aggregation: 'distinct', windows: [{ label: '1h', ms: HOUR }] });
    for (const n of [600, 5_000, 50_000]) {
      const entity = `e${n}`;
      for (let i = 0; i < n; i++) sut.update(entity, `merchant-${i}`, T0 + (i % 3_000));
      const est = sut.read(entity, '1h', T0 + 3_000).value as number;
      expect(Math.abs(est - n) / n).toBeLessThan(0.049);
    }
  });

  it('reads an unknown entity as 0 for count and null otherwise', () => {
    const count = new WindowedAggregator({ name: 'c', aggregation: 'count', windows: [{ label: '1m', ms: MIN }] });
    const sum = new WindowedAggregator({ name: 's', aggregation: 'sum', windows: [{ label: '1m', ms: MIN }] });
    expect(count.read('nobody', '1m', T0)).toEqual({ value: 0, lastEventAt: null });
    expect(sum.read('nobody', '1m', T0)).toEqual({ value: null, lastEventAt: null });
  });

  it('names the window when asked for one it does not have', () => {
    const sut = new WindowedAggregator({ name: 'card_txn_count', aggregation: 'count', windows: [{ label: '1m', ms: MIN }] });
    expect(() => sut.read('a', '2m', T0)).toThrow('feature "card_txn_count" has no window "2m" (windows: 1m)');
  });

  it('frees an entity idle for longer than its longest window, and a later event starts fresh', () => {
    const sut = new WindowedAggregator({ name: 'c', aggregation: 'count', windows: [{ label: '1m', ms: MIN }, { label: '1h', ms: HOUR }] });
    sut.update('a', 1, T0);
    sut.update('a', 1, T0 + SEC);
    sut.update('b', 1, T0 + 2 * HOUR);
    expect(sut.sweep(T0 + HOUR - MIN, 100)).toBe(0);
    expect(sut.size).toBe(2);
    // 1h + one 2m tile after a's last event, a shows in no window any more.
    expect(sut.sweep(T0 + HOUR + 3 * MIN, 100)).toBe(1);
    expect(sut.size).toBe(1);
    expect(sut.read('a', '1h', T0 + HOUR + 3 * MIN)).toEqual({ value: 0, lastEventAt: null });
    sut.update('a', 1, T0 + 3 * HOUR);
    expect(sut.read('a', '1h', T0 + 3 * HOUR).value).toBe(1);
  });

  it('sweeps in slices of the given budget', () => {
    const sut = new WindowedAggregator({ name: 'c', aggregation: 'count', windows: [{ label: '1m', ms: MIN }] });
    for (let i = 0; i < 10; i++) sut.update(`e${i}`, 1, T0);
    let freed = 0;
    for (let pass = 0; pass < 4; pass++) freed += sut.sweep(T0 + HOUR, 3);
    expect(freed).toBe(10);
    expect(sut.size).toBe(0);
  });

  it('never frees entities of a feature with a lifetime window', () => {
    const sut = new WindowedAggregator({ name: 'c', aggregation: 'count', windows: [{ label: 'lifetime', ms: Number.POSITIVE_INFINITY }] });
    sut.update('a', 1, T0);
    expect(sut.sweep(T0 + 1000 * HOUR, 100)).toBe(0);
    expect(sut.read('a', 'lifetime', T0 + 1000 * HOUR).value).toBe(1);
  });
});
