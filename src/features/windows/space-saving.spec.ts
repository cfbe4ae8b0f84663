// Space-Saving summaries and their union over tiles against the obvious code: a Map of every
// item's exact weight. Weights are multiples of 1/4, so every sum is exact in a double and
// exact answers can be compared with toEqual.
import fc from 'fast-check';
import { SpaceSaving, type TopAnswer } from './space-saving.js';
import { exactTop, exactWeights, topBoundProblems, type WeightedItem } from '../../../test/support/topk-model.js';

type Ev = WeightedItem;

const summaryOf = (capacity: number, events: readonly Ev[]): SpaceSaving => {
  const s = new SpaceSaving(capacity);
  for (const e of events) s.add(e.item, e.weight);
  return s;
};

/** Skewed items: a few heavy ones and a long tail, so capacities are overrun. */
const item = (distinct: number) => fc.oneof({ weight: 3, arbitrary: fc.integer({ min: 0, max: 3 }) }, { weight: 2, arbitrary: fc.integer({ min: 0, max: distinct - 1 }) }).map((i) => `m${i}`);
const weight = fc.oneof(fc.constant(1), fc.integer({ min: 0, max: 400 }).map((q) => q / 4));
const events = (distinct: number, maxLength = 200) => fc.array(fc.record({ item: item(distinct), weight }), { maxLength, size: 'medium' });

/** Checks the guarantees of `answer` against the exact weights (topBoundProblems), and that the bound is at most max(N/m, the k-th count). */
function checkBounds(answer: TopAnswer, weights: Map<string, number>, k: number, total: number, capacity: number): void {
  expect(topBoundProblems(answer, weights, k, total, capacity)).toEqual([]);
  expect(answer.unlistedAtMost).toBeLessThanOrEqual(Math.max(total / capacity, answer.items.at(-1)?.count ?? 0) + 1e-9);
}

describe(SpaceSaving.name, () => {
  describe('one summary', () => {
    it('is exact while it holds at most its capacity of distinct items', () => {
      fc.assert(
        fc.property(fc.integer({ min: 1, max: 12 }), events(12), fc.integer({ min: 1, max: 15 }), (capacity, evs, k) => {
          fc.pre(exactWeights(evs).size <= capacity);
          const s = summaryOf(capacity, evs);
          expect(s.exact).toBe(true);
          expect(s.top(k)).toEqual(exactTop(exactWeights(evs), k));
        }),
        { numRuns: 300 },
      );
    });

    it('keeps every true weight within [count - error, count] and lists every item heavier than its bound', () => {
      fc.assert(
        fc.property(fc.integer({ min: 1, max: 8 }), events(40), fc.integer({ min: 1, max: 10 }), (capacity, evs, k) => {
          const weights = exactWeights(evs);
          const total = evs.reduce((a, e) => a + e.weight, 0);
          const s = summaryOf(capacity, evs);
          expect(s.size).toBeLessThanOrEqual(capacity);
          checkBounds(s.top(k), weights, k, total, capacity);
          // With k = capacity every monitored item is listed: the bound is the floor, <= N/m.
          checkBounds(s.top(capacity), weights, capacity, total, capacity);
        }),
        { numRuns: 400 },
      );
    });

    it('breaks ties by item, whatever the order the items came in', () => {
      const a = summaryOf(8, [{ item: 'b', weight: 2 }, { item: 'a', weight: 2 }, { item: 'c', weight: 5 }, { item: 'aa', weight: 2 }]);
      expect(a.top(3)).toEqual({ items: [{ item: 'c', count: 5, error: 0 }, { item: 'a', count: 2, error: 0 }, { item: 'aa', count: 2, error: 0 }], unlistedAtMost: 2 });
      expect(a.top(10).unlistedAtMost).toBe(0);
    });

    it('evicts the lightest item into the error of the newcomer', () => {
      const s = summaryOf(2, [{ item: 'a', weight: 5 }, { item: 'b', weight: 1 }, { item: 'c', weight: 2 }]);
      expect(s.top(2)).toEqual({ items: [{ item: 'a', count: 5, error: 0 }, { item: 'c', count: 3, error: 1 }], unlistedAtMost: 1 });
      expect(s.exact).toBe(false);
    });
  });

  describe('union of tiles (topOf)', () => {
    const tiles = (distinct: number) => fc.array(events(distinct, 60), { minLength: 1, maxLength: 12 });

    it('is exact while each tile holds at most its capacity of distinct items', () => {
      fc.assert(
        fc.property(fc.integer({ min: 4, max: 10 }), tiles(10), fc.integer({ min: 1, max: 12 }), (capacity, perTile, k) => {
          fc.pre(perTile.every((t) => exactWeights(t).size <= capacity));
          const answer = SpaceSaving.topOf(perTile.map((t) => summaryOf(capacity, t)), k);
          expect(answer).toEqual(exactTop(exactWeights(perTile.flat()), k));
        }),
        { numRuns: 300 },
      );
    });

    it('bounds every listed item, lists every item heavier than the stated bound, and errs by at most N/m', () => {
      fc.assert(
        fc.property(fc.integer({ min: 1, max: 6 }), tiles(30), fc.integer({ min: 1, max: 8 }), (capacity, perTile, k) => {
          const all = perTile.flat();
          const answer = SpaceSaving.topOf(perTile.map((t) => summaryOf(capacity, t)), k);
          checkBounds(answer, exactWeights(all), k, all.reduce((a, e) => a + e.weight, 0), capacity);
        }),
        { numRuns: 400 },
      );
    });

    it('equals merging the tiles into an unbounded accumulator, and leaves the tiles as they were', () => {
      fc.assert(
        fc.property(fc.integer({ min: 1, max: 6 }), tiles(20), fc.integer({ min: 1, max: 8 }), (capacity, perTile, k) => {
          const summaries = perTile.map((t) => summaryOf(capacity, t));
          const before = summaries.map((s) => s.state());
          const merged = summaries.reduce((acc, s) => acc.merge(s), new SpaceSaving(Number.POSITIVE_INFINITY));
          expect(SpaceSaving.topOf(summaries, k)).toEqual(merged.top(k));
          expect(summaries.map((s) => s.state())).toEqual(before);
        }),
        { numRuns: 300 },
      );
    });

    it('merged into a bounded summary keeps the bounds (the floor rises to the heaviest item dropped)', () => {
      fc.assert(
        fc.property(fc.integer({ min: 1, max: 6 }), tiles(20), fc.integer({ min: 1, max: 6 }), (capacity, perTile, k) => {
          const all = perTile.flat();
          const merged = perTile.map((t) => summaryOf(capacity, t)).reduce((acc, s) => acc.merge(s), new SpaceSaving(capacity));
          expect(merged.size).toBeLessThanOrEqual(capacity);
          // Bounded merging loses more than the union: its errors add a floor per merge, so only the bound checks apply.
          const weights = exactWeights(all);
          const answer = merged.top(k);
          for (const x of answer.items) {
            const truth = weights.get(x.item) ?? 0;
            expect(x.count - x.error <= truth && truth <= x.count).toBe(true);
          }
          for (const [x, w] of weights) if (w > answer.unlistedAtMost) expect(answer.items.some((i) => i.item === x)).toBe(true);
          // Items added after a merge start from the floor.
          merged.add('late', 1);
          const late = merged.top(capacity).items.find((i) => i.item === 'late');
          if (late) expect(late.count - late.error <= (weights.get('late') ?? 0) + 1 && (weights.get('late') ?? 0) + 1 <= late.count).toBe(true);
        }),
        { numRuns: 300 },
      );
    });
  });

  it('comes back from state() equal, and keeps adding as before', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40 }), events(60), events(60, 30), (capacity, evs, more) => {
        const s = summaryOf(capacity, evs);
        const back = SpaceSaving.fromState(JSON.parse(JSON.stringify(s.state())));
        expect(back.state()).toEqual(s.state());
        for (const e of more) {
          s.add(e.item, e.weight);
          back.add(e.item, e.weight);
        }
        expect(back.top(capacity)).toEqual(s.top(capacity));
      }),
      { numRuns: 200 },
    );
  });

  it('refuses state no summary can hold', () => {
    expect(() => SpaceSaving.fromState({ capacity: 1, floor: 0, items: ['a', 'b'], counts: [1, 1] })).toThrow(RangeError);
    expect(() => SpaceSaving.fromState({ capacity: 4, floor: 0, items: ['a', 'a'], counts: [1, 1] })).toThrow('repeats an item');
    expect(() => SpaceSaving.fromState({ capacity: 4, floor: 0, items: ['a'], counts: [] })).toThrow(RangeError);
  });
});
