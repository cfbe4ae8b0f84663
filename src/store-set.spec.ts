// dropEntities (a partition handed to another instance): the stores after dropping the keys of
// some entities read exactly as stores that only ever saw the other entities' events, in every
// kind of store (windows with history and topk, views with versions and vectors, leaderboard
// periods, geo members inside fences), as the state digest and as-of reads show.
import fc from 'fast-check';
import { digestStores } from './durability/digest.js';
import { parsePipeline } from './pipeline/load.js';
import { dropEntities } from './store-set.js';
import { ingestPathFor } from '../test/support/stores.js';

const pipeline = parsePipeline(`
sources: [{ name: ev, timestamp: ts, lateness: 1h }]
features:
  - { name: n, source: ev, entity: id, aggregation: count, windows: [5m, 1h], history: 1h }
  - { name: amounts, source: ev, entity: id, aggregation: quantile, quantile: 0.9, field: amount, windows: [1h] }
  - { name: shops, source: ev, entity: id, aggregation: topk, field: shop, k: 3, windows: [1h] }
views:
  - { name: profile, source: ev, entity: id, fields: { amount: float, shop: string, emb: "vector(2)" }, history: 1h }
leaderboards:
  - { name: spend, source: ev, member: id, score: amount, mode: incr, period: hour, keep: 2 }
geo:
  - name: riders
    source: ev
    member: id
    lat: lat
    lon: lon
    fences:
      - { name: centre, circle: { lat: 48.85, lon: 2.35, radiusMeters: 3000 } }
`);

const T0 = Date.UTC(2026, 11, 4, 9);
const IDS = Array.from({ length: 12 }, (_, i) => `e${i}`);

const eventArb = fc.record({
  id: fc.constantFrom(...IDS),
  dt: fc.integer({ min: 0, max: 2 * 3_600_000 }),
  amount: fc.integer({ min: 1, max: 500 }),
  shop: fc.constantFrom('s1', 's2', 's3', 's4', 's5'),
  lat: fc.double({ min: 48.8, max: 48.9, noNaN: true }),
  lon: fc.double({ min: 2.3, max: 2.4, noNaN: true }),
  x: fc.integer({ min: -5, max: 5 }),
});

interface Ev {
  id: string;
  dt: number;
  amount: number;
  shop: string;
  lat: number;
  lon: number;
  x: number;
}

function fed(events: readonly Ev[], now: number) {
  const path = ingestPathFor(pipeline, () => now);
  for (const e of events) {
    const out = path.processor.ingest('ev', [{ id: e.id, ts: T0 + e.dt, amount: e.amount, shop: e.shop, lat: e.lat, lon: e.lon, emb: [e.x, 1] }]);
    expect(out.rejected).toBe(0);
  }
  return path;
}

describe('dropEntities', () => {
  it('leaves the stores as if the dropped entities had never had an event', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(eventArb, { maxLength: 120 }), fc.subarray(IDS), async (raw, dropped) => {
        // Events in time order, so lateness refuses none.
        const events: Ev[] = [...raw].sort((a, b) => a.dt - b.dt);
        const now = T0 + 2 * 3_600_000 + 1;
        const gone = new Set(dropped);
        const all = fed(events, now);
        const removed = dropEntities(all.stores, (key) => gone.has(key));
        const kept = fed(events.filter((e) => !gone.has(e.id)), now);
        expect(removed > 0).toBe(events.some((e) => gone.has(e.id)));
        const a = await digestStores(all.stores, [], now);
        const b = await digestStores(kept.stores, [], now);
        expect(a.stores).toEqual(b.stores);
        // As-of reads (history) and versions of the kept entities are untouched; the dropped have none.
        const at = now - 30 * 60_000;
        for (const id of IDS) {
          expect(all.stores.features.read('n', id, '5m', now, undefined, at)).toEqual(kept.stores.features.read('n', id, '5m', now, undefined, at));
          expect(all.stores.views.read('profile', id, now, at)).toEqual(kept.stores.views.read('profile', id, now, at));
        }
        // The vector index holds only the kept entities.
        const hits = all.stores.views.similar('profile', { field: 'emb', k: IDS.length, vector: [1, 1] }, now).map((h) => h.entity).sort();
        expect(hits.filter((h) => gone.has(h))).toEqual([]);
        expect(hits).toEqual(kept.stores.views.similar('profile', { field: 'emb', k: IDS.length, vector: [1, 1] }, now).map((h) => h.entity).sort());
      }),
      { numRuns: 60 },
    );
  });
});
