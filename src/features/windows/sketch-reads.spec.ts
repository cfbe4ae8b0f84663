// The sketches' window-read fast paths (QuantileSketch.quantileOf, HyperLogLog.countOf) against
// the obvious code: one sketch fed every value of every tile, and merging the tiles.
import fc from 'fast-check';
import { HyperLogLog, SPARSE_LIMIT } from './hyperloglog.js';
import { QuantileSketch } from './quantile-sketch.js';

const sketchOf = (values: number[]): QuantileSketch => {
  const s = new QuantileSketch();
  for (const v of values) s.add(v);
  return s;
};
const mergedQuantile = (tiles: QuantileSketch[], q: number): number | null => tiles.reduce((acc, t) => acc.merge(t), new QuantileSketch()).quantile(q);

describe(QuantileSketch.name, () => {
  describe('quantileOf', () => {
    // Amounts as payments have them, plus zeros and negatives (refunds) to cover all three stores.
    const value = fc.oneof(fc.double({ min: 0.01, max: 1e6, noNaN: true }), fc.constant(0), fc.double({ min: -1e4, max: -0.01, noNaN: true }), fc.integer({ min: 1, max: 500 }));
    const tiles = fc.array(fc.array(value, { minLength: 0, maxLength: 40 }), { minLength: 1, maxLength: 30 });
    const rank = fc.oneof(fc.constantFrom(0, 0.5, 0.95, 0.99, 1), fc.double({ min: 0, max: 1, noNaN: true }));

    it('equals one sketch fed every value of every tile, bit for bit', () => {
      fc.assert(
        fc.property(tiles, rank, (valuesPerTile, q) => {
          const sketches = valuesPerTile.map(sketchOf);
          expect(Object.is(QuantileSketch.quantileOf(sketches, q), sketchOf(valuesPerTile.flat()).quantile(q))).toBe(true);
        }),
        { numRuns: 500 },
      );
    });

    it('equals merging the tiles, negative values included', () => {
      fc.assert(
        fc.property(tiles, rank, (valuesPerTile, q) => {
          const sketches = valuesPerTile.map(sketchOf);
          expect(Object.is(QuantileSketch.quantileOf(sketches, q), mergedQuantile(sketches, q))).toBe(true);
        }),
        { numRuns: 300 },
      );
    });

    it('merges stores whose keys reach 0 (values near 1 and -1) without losing any', () => {
      // DenseStore.merge took a maximum key of 0 for "absent" and lost these.
      for (const tiles of [[[-0.01], [-0.9801980198019803, -0.01]], [[0.01], [0.99, 0.01]], [[3, 0.5], [1, 0.02, -1]]]) {
        const merged = mergedQuantile(tiles.map(sketchOf), 0);
        const one = sketchOf(tiles.flat()).quantile(0);
        expect({ tiles, merged }).toEqual({ tiles, merged: one });
        for (const q of [0.25, 0.5, 0.75, 1]) expect(mergedQuantile(tiles.map(sketchOf), q)).toBe(sketchOf(tiles.flat()).quantile(q));
      }
    });

    it('keeps negative values of every tile, as merging does', () => {
      const tilesWithRefunds = [sketchOf([0]), sketchOf([-5]), sketchOf([3])];
      expect(QuantileSketch.quantileOf(tilesWithRefunds, 0)).toBeCloseTo(-5, 1);
      expect(mergedQuantile(tilesWithRefunds, 0)).toBe(QuantileSketch.quantileOf(tilesWithRefunds, 0));
    });

    it('is null for empty tiles and leaves the tiles as they were', () => {
      expect(QuantileSketch.quantileOf([new QuantileSketch(), new QuantileSketch()], 0.5)).toBeNull();
      const a = sketchOf([1, 2, 3]);
      const b = sketchOf([100, 200]);
      const before = JSON.stringify([a.state(), b.state()]);
      expect(QuantileSketch.quantileOf([a, b], 0.95)).toBe(mergedQuantile([a, b], 0.95));
      expect(JSON.stringify([a.state(), b.state()])).toBe(before);
    });

    it('reads sketches restored from a snapshot state like the originals', () => {
      const tilesA = [sketchOf([5, 7, 11]), sketchOf([13, 0, -2])];
      const restored = tilesA.map((t) => QuantileSketch.fromState(t.state()));
      expect(QuantileSketch.quantileOf(restored, 0.5)).toBe(QuantileSketch.quantileOf(tilesA, 0.5));
    });
  });
});

describe(HyperLogLog.name, () => {
  describe('countOf', () => {
    const counterOf = (values: string[]): HyperLogLog => {
      const h = new HyperLogLog();
      for (const v of values) h.add(v);
      return h;
    };
    const merged = (cs: HyperLogLog[]): number => cs.reduce((acc, c) => acc.merge(c), new HyperLogLog()).count();

    it('equals merging the tiles, sparse or past the sparse limit', () => {
      // A small alphabet makes tiles overlap; large tiles cross SPARSE_LIMIT alone or in union.
      const tile = fc.oneof(fc.array(fc.integer({ min: 0, max: 2000 }), { maxLength: 60 }), fc.array(fc.integer({ min: 0, max: 5000 }), { minLength: 300, maxLength: 700 }));
      fc.assert(
        fc.property(fc.array(tile, { minLength: 1, maxLength: 12 }), (ids) => {
          const counters = ids.map((t) => counterOf(t.map((i) => `m-${i}`)));
          expect(HyperLogLog.countOf(counters)).toBe(merged(counters));
        }),
        { numRuns: 200 },
      );
    });

    it('counts a union of exactly SPARSE_LIMIT values exactly, and one more as the dense estimate', () => {
      const half = (from: number) => counterOf(Array.from({ length: SPARSE_LIMIT / 2 }, (_, i) => `v-${from + i}`));
      expect(HyperLogLog.countOf([half(0), half(SPARSE_LIMIT / 2), half(0)])).toBe(SPARSE_LIMIT);
      const over = [half(0), half(SPARSE_LIMIT / 2), counterOf(['one-more'])];
      expect(HyperLogLog.countOf(over)).toBe(merged(over));
    });
  });
});
