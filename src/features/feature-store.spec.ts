import fc from 'fast-check';
import { InputError } from '../input-error.js';
import { FeatureStore } from './feature-store.js';
import { QUANTILE_RELATIVE_ACCURACY } from './windows/quantile-sketch.js';
import { tileWidthFor } from './windows/tiling.js';

const T0 = Date.UTC(2026, 10, 25, 12);

/** The exact q-quantile of `xs` as DDSketch ranks it: the value of rank floor(q * (n - 1)), 0-based. */
function exactQuantile(xs: number[], q: number): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.floor(q * (sorted.length - 1))];
}

describe(FeatureStore.name, () => {
  const store = () =>
    new FeatureStore([
      { name: 'p95', aggregation: 'quantile', quantile: 0.95, windows: [{ label: '1h', ms: 3_600_000 }] },
      { name: 'total', aggregation: 'sum', windows: [{ label: '1h', ms: 3_600_000 }] },
    ]);

  it('answers any quantile of a quantile feature at read time, within the sketch accuracy of the exact one', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ value: fc.double({ min: 0.01, max: 1e6, noNaN: true }), after: fc.integer({ min: 0, max: 240_000 }) }), { minLength: 20, maxLength: 120 }),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 1, maxLength: 5 }),
        (events, ranks) => {
          const sut = store();
          // At least 2 minutes apart on average, so longer runs outgrow the window.
          let t = T0;
          const stamped = events.map((e) => ({ value: e.value, ts: (t += 120_000 + e.after) }));
          for (const e of stamped) sut.update('p95', 'card', e.value, e.ts);
          // The window's events, as tiling.ts defines them: those whose tile overlaps (t - 1h, t].
          const width = tileWidthFor(3_600_000);
          const xs = stamped.filter((e) => Math.floor(e.ts / width) * width + width > t - 3_600_000).map((e) => e.value);
          for (const q of ranks) {
            const got = sut.read('p95', 'card', '1h', t, q).value!;
            const want = exactQuantile(xs, q);
            expect(Math.abs(got - want)).toBeLessThanOrEqual(QUANTILE_RELATIVE_ACCURACY * want * 1.000001);
          }
          // Without a rank the declared one answers.
          expect(sut.read('p95', 'card', '1h', t).value).toBe(sut.read('p95', 'card', '1h', t, 0.95).value);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('refuses a rank for a feature that is no quantile, or out of [0, 1], as bad input', () => {
    const sut = store();
    expect(() => sut.read('total', 'card', '1h', T0, 0.5)).toThrow(InputError);
    expect(() => sut.read('total', 'card', '1h', T0, 0.5)).toThrow('quantile: 0.5 asked of feature "total", a sum; it applies to quantile features only');
    expect(() => sut.read('p95', 'card', '1h', T0, 1.5)).toThrow('quantile: 1.5 is not a rank between 0 and 1');
    expect(sut.read('p95', 'nobody', '1h', T0, 0.5).value).toBeNull();
  });
});
