// topk features through the FeatureStore, read at chosen times (the clock is the `now`
// argument), against every event kept and aggregated on read under tiling.ts semantics.
import fc from 'fast-check';
import { FeatureStore } from '../feature-store.js';
import { OnlineFeatures } from '../online-features.js';
import { topkCapacity } from './aggregators.js';
import { tileWidthFor } from './tiling.js';
import { exactTop, exactWeights, topBoundProblems } from '../../../test/support/topk-model.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const WINDOWS = [
  { label: '5m', ms: 5 * MIN },
  { label: '1h', ms: HOUR },
  { label: 'lifetime', ms: Number.POSITIVE_INFINITY },
];
const T0 = Date.UTC(2026, 10, 25, 12);

interface Ev {
  entity: string;
  item: string;
  weight: number;
  ts: number;
}

/** Events of `entity` in window `ms` read at `now`: those whose tile overlaps (now - W, now]. */
const inWindow = (events: readonly Ev[], entity: string, ms: number, now: number): Ev[] => {
  const t = tileWidthFor(ms);
  return events.filter((e) => e.entity === entity && (!Number.isFinite(ms) || Math.floor(e.ts / t) * t + t > now - ms));
};

/**
 * A stream of two cards paying merchants: a few heavy merchants and a tail wide enough to
 * overrun a tile's capacity (32 for k <= 8), mostly in order with out-of-order steps.
 */
const stream = (tail: number) =>
  fc.array(
    fc.record({
      entity: fc.constantFrom('a', 'b'),
      item: fc.oneof({ weight: 2, arbitrary: fc.integer({ min: 0, max: 2 }) }, { weight: 3, arbitrary: fc.integer({ min: 0, max: tail }) }).map((i) => `m-${i}`),
      weight: fc.integer({ min: 0, max: 40 }).map((q) => q / 4),
      step: fc.oneof({ weight: 8, arbitrary: fc.integer({ min: 0, max: 5_000 }) }, { weight: 2, arbitrary: fc.integer({ min: -MIN, max: 0 }) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: HOUR }) }),
    }),
    { minLength: 1, maxLength: 400, size: 'max' },
  );

function feed(store: FeatureStore, weighted: boolean, raw: { entity: string; item: string; weight: number; step: number }[]): { events: Ev[]; newest: number } {
  let ts = T0;
  let newest = T0;
  const events: Ev[] = [];
  for (const r of raw) {
    ts += r.step;
    newest = Math.max(newest, ts);
    const e = { entity: r.entity, item: r.item, weight: weighted ? r.weight : 1, ts };
    events.push(e);
    if (weighted) store.update('top', e.entity, e.item, e.ts, e.weight);
    else store.update('top', e.entity, e.item, e.ts);
  }
  return { events, newest };
}

describe('topk windows', () => {
  const reads = fc.array(fc.integer({ min: 0, max: 2 * HOUR }), { minLength: 1, maxLength: 4 });

  it.each([
    ['event counts', false],
    ['summed weights', true],
  ])('with %s: exact while a window holds at most the capacity of distinct items, bounded otherwise', (_, weighted) => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }), stream(60), reads, (k, raw, delays) => {
        const store = new FeatureStore([{ name: 'top', aggregation: 'topk', k, windows: WINDOWS }]);
        const { events, newest } = feed(store, weighted, raw);
        const capacity = topkCapacity(k);
        for (const d of delays) {
          const now = newest + d;
          for (const entity of ['a', 'b', 'nobody']) {
            for (const w of WINDOWS) {
              const mine = inWindow(events, entity, w.ms, now);
              const weights = exactWeights(mine);
              const read = store.read('top', entity, w.label, now);
              const top = read.top!;
              expect(read.value).toBe(top.items.length === 0 ? null : top.items[0].count);
              expect(read.lastEventAt).toBe(events.some((e) => e.entity === entity) ? Math.max(...events.filter((e) => e.entity === entity).map((e) => e.ts)) : null);
              if (weights.size <= capacity) expect(top).toEqual(exactTop(weights, k));
              else expect(topBoundProblems(top, weights, k, mine.reduce((a, e) => a + e.weight, 0), capacity)).toEqual([]);
            }
          }
        }
      }),
      { numRuns: 150 },
    );
  });

  it('overruns a tile and still lists the heavy merchants, with the bound on the others stated', () => {
    const store = new FeatureStore([{ name: 'top', aggregation: 'topk', k: 2, windows: [{ label: '1h', ms: HOUR }] }]);
    // 200 one-off merchants around two heavy ones, all in one 2-minute tile (capacity 32).
    const events: Ev[] = [];
    for (let i = 0; i < 200; i++) {
      events.push({ entity: 'c', item: `tail-${i}`, weight: 1, ts: T0 + i });
      if (i % 4 === 0) events.push({ entity: 'c', item: 'heavy-1', weight: 1, ts: T0 + i });
      if (i % 5 === 0) events.push({ entity: 'c', item: 'heavy-2', weight: 1, ts: T0 + i });
    }
    for (const e of events) store.update('top', e.entity, e.item, e.ts);
    const top = store.read('top', 'c', '1h', T0 + 1_000).top!;
    expect(top.items.map((x) => x.item)).toEqual(['heavy-1', 'heavy-2']);
    expect(topBoundProblems(top, exactWeights(events), 2, events.length, topkCapacity(2))).toEqual([]);
    // The tail overran the tile: the answer says how heavy an unlisted merchant may be (<= N/m).
    expect(top.unlistedAtMost).toBeGreaterThan(0);
    expect(top.unlistedAtMost).toBeLessThanOrEqual(events.length / topkCapacity(2));
  });

  it('answers an empty list and a null value for a window holding no event', () => {
    const store = new FeatureStore([{ name: 'top', aggregation: 'topk', k: 3, windows: [{ label: '5m', ms: 5 * MIN }] }]);
    store.update('top', 'c', 'm1', T0, 2);
    expect(store.read('top', 'c', '5m', T0)).toEqual({ value: 2, lastEventAt: T0, top: { items: [{ item: 'm1', count: 2, error: 0 }], unlistedAtMost: 0 } });
    expect(store.read('top', 'c', '5m', T0 + HOUR)).toEqual({ value: null, lastEventAt: T0, top: { items: [], unlistedAtMost: 0 } });
    expect(store.read('top', 'nobody', '5m', T0)).toEqual({ value: null, lastEventAt: null, top: { items: [], unlistedAtMost: 0 } });
    expect(() => store.read('top', 'c', '5m', T0, 0.5)).toThrow('quantile: 0.5 asked of feature "top", a topk; it applies to quantile features only');
  });

  it('serves a topk window in onlineFeatures as its list, [] when empty, beside numbers', () => {
    const store = new FeatureStore([
      { name: 'top', aggregation: 'topk', k: 2, windows: [{ label: '1h', ms: HOUR }] },
      { name: 'n', aggregation: 'count', windows: [{ label: '1h', ms: HOUR }] },
    ]);
    for (const [m, w] of [['m1', 5], ['m2', 7.5], ['m3', 1]] as const) {
      store.update('top', 'c', m, T0, w);
      store.update('n', 'c', 1, T0);
    }
    const rows = new OnlineFeatures(store).fetch(['c', 'nobody'], ['top:1h', 'n:1h'], T0 + MIN);
    expect(rows).toEqual([
      { entity: 'c', values: [[{ item: 'm2', count: 7.5, error: 0 }, { item: 'm1', count: 5, error: 0 }], 3], freshness: [T0, T0] },
      { entity: 'nobody', values: [[], 0], freshness: [null, null] },
    ]);
  });
});
