import { FeatureStore } from './feature-store.js';
import { ViewStore } from './views/view-store.js';
import { MIN_PASS_MS, PASSES_PER_RETENTION, sweepShare } from './sweep-pace.js';

const MIN = 60_000;
const HOUR = 60 * MIN;

describe('sweepShare', () => {
  it('spreads a pass over max(MIN_PASS_MS, retention / PASSES_PER_RETENTION), within [1, max]', () => {
    expect(sweepShare(100_000, MIN, 100, 2_000)).toBe(Math.ceil((100_000 * 100) / MIN_PASS_MS)); // 1 m: the minimum pass
    expect(sweepShare(100_000, 24 * HOUR, 100, 2_000)).toBe(Math.ceil((100_000 * 100) / ((24 * HOUR) / PASSES_PER_RETENTION)));
    expect(sweepShare(10_000_000, MIN, 100, 2_000)).toBe(2_000); // capped
    expect(sweepShare(3, 24 * HOUR, 100, 2_000)).toBe(1); // never stalls
    expect(sweepShare(0, MIN, 100, 2_000)).toBe(0);
    expect(sweepShare(100, Number.POSITIVE_INFINITY, 100, 2_000)).toBe(0); // lifetime: nothing expires
  });

  it('frees every idle entity of each feature within a pass of its own length', () => {
    const store = new FeatureStore([
      { name: 'short', aggregation: 'count', windows: [{ label: '1m', ms: MIN }] },
      { name: 'long', aggregation: 'count', windows: [{ label: '1h', ms: HOUR }] },
    ]);
    const t0 = Date.UTC(2026, 10, 26);
    for (let e = 0; e < 5_000; e++) {
      store.update('short', `e${e}`, 1, t0);
      store.update('long', `e${e}`, 1, t0);
    }
    // Both idle from here; tick every 100 ms as the sweeper does.
    let now = t0 + 2 * HOUR;
    const sizeAt = (ms: number) => {
      for (const end = now + ms; now < end; now += 100) store.sweep(now, 2_000, 100);
      return Object.fromEntries(store.sizes().map((s) => [s.name, s.entities]));
    };
    const afterMinPass = sizeAt(MIN_PASS_MS + 100);
    expect(afterMinPass.short).toBe(0);
    expect(afterMinPass.long).toBeGreaterThan(0); // paced by its own, longer pass (36 s)
    expect(sizeAt(HOUR / PASSES_PER_RETENTION).long).toBe(0);
  });
});

describe('ViewStore.sweep with a tick', () => {
  it('frees every expired entity within two passes after its TTL (the pass under way may be past it), and nothing before', () => {
    const views = new ViewStore([{ name: 'card', fields: [{ name: 'risk', type: 'number' }], ttlMs: MIN }]);
    const t0 = Date.UTC(2026, 10, 26);
    for (let e = 0; e < 3_000; e++) views.upsert('card', `e${e}`, { risk: e }, t0);
    let now = t0;
    const run = (ms: number) => {
      let freed = 0;
      for (const end = now + ms; now < end; now += 100) freed += views.sweep(now, 2_000, 100);
      return freed;
    };
    expect(run(MIN)).toBe(0);
    expect(run(2 * MIN_PASS_MS + 100)).toBe(3_000);
  });
});
