// QuantileSketch against the obvious model: every value kept in a sorted array. A sketch (one
// fed every value, or tiles merged in any order) answers the value at rank q within the
// sketch's relative accuracy of the model's value at that rank, negative values included.
import fc from 'fast-check';
import { QUANTILE_RELATIVE_ACCURACY, QuantileSketch } from './quantile-sketch.js';

const sketchOf = (values: readonly number[]): QuantileSketch => {
  const s = new QuantileSketch();
  for (const v of values) s.add(v);
  return s;
};

/** The value at rank q of `values` as DDSketch defines it: index floor(q * (n - 1)) of the sorted values. */
function modelQuantile(values: readonly number[], q: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(q * (sorted.length - 1))];
}

/** Within the sketch's relative accuracy of the model (and a little more for floating point). */
function withinAccuracy(got: number | null, want: number | null): boolean {
  if (got === null || want === null) return got === want;
  return Math.abs(got - want) <= Math.abs(want) * (QUANTILE_RELATIVE_ACCURACY + 1e-9);
}

// Payments and refunds over nine orders of magnitude, zeros, and repeated values (ties).
const value = fc.oneof(
  fc.double({ min: 1e-6, max: 1e9, noNaN: true }),
  fc.double({ min: -1e9, max: -1e-6, noNaN: true }),
  fc.constant(0),
  fc.integer({ min: -500, max: 500 }),
  fc.constantFrom(-42.5, 7, 1e6),
);
const tiles = fc.array(fc.array(value, { maxLength: 40 }), { minLength: 1, maxLength: 12 });
const rank = fc.oneof(fc.constantFrom(0, 0.01, 0.25, 0.5, 0.95, 0.99, 1), fc.double({ min: 0, max: 1, noNaN: true }));

describe(QuantileSketch.name, () => {
  it('answers within its relative accuracy of the sorted values, fed every value', () => {
    fc.assert(
      fc.property(fc.array(value, { maxLength: 200 }), rank, (values, q) => {
        const got = sketchOf(values).quantile(q);
        expect([got, modelQuantile(values, q), withinAccuracy(got, modelQuantile(values, q))]).toEqual([got, modelQuantile(values, q), true]);
      }),
      { numRuns: 500 },
    );
  });

  it('merges tiles, negative values included, into a sketch as accurate as one fed every value', () => {
    fc.assert(
      fc.property(tiles, rank, (valuesPerTile, q) => {
        const all = valuesPerTile.flat();
        const merged = valuesPerTile.map(sketchOf).reduce((acc, t) => acc.merge(t), new QuantileSketch());
        expect(merged.count).toBe(all.length);
        const got = merged.quantile(q);
        expect([got, modelQuantile(all, q), withinAccuracy(got, modelQuantile(all, q))]).toEqual([got, modelQuantile(all, q), true]);
        // bin for bin the same as the sketch fed every value
        expect(Object.is(got, sketchOf(all).quantile(q))).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('merges in any order, into a non-empty sketch, and leaves the merged-in sketch as it was', () => {
    fc.assert(
      fc.property(tiles, rank, (valuesPerTile, q) => {
        const all = valuesPerTile.flat();
        const forward = valuesPerTile.map(sketchOf);
        const before = JSON.stringify(forward.map((t) => t.state()));
        // into the first tile itself (never an empty sketch unless that tile is empty)
        const first = QuantileSketch.fromState(structuredClone(forward[0].state()));
        for (const t of forward.slice(1)) first.merge(t);
        const backward = [...forward].reverse().reduce((acc, t) => acc.merge(t), new QuantileSketch());
        expect(JSON.stringify(forward.map((t) => t.state()))).toBe(before);
        const want = modelQuantile(all, q);
        for (const got of [first.quantile(q), backward.quantile(q)]) expect([got, want, withinAccuracy(got, want)]).toEqual([got, want, true]);
        expect(Object.is(first.quantile(q), backward.quantile(q))).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('keeps the refunds of a tile merged into one that has some', () => {
    const merged = sketchOf([-10, 5]).merge(sketchOf([-300, -200, 1]));
    expect(merged.count).toBe(5);
    expect(merged.quantile(0)).toBeCloseTo(-300, -1);
    expect(merged.quantile(0.25)).toBeCloseTo(-200, -1);
    expect(merged.quantile(0.5)).toBeCloseTo(-10, 0);
    expect(merged.quantile(1)).toBeCloseTo(5, 0);
  });
});
