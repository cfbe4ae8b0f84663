// A pipeline with one store of every kind keyed by `id` (windows with history, a sketch and
// topk; a view with versions and a vector; leaderboard periods; a geo index with a fence), and
// random events for it: for property tests that move or drop entities between store sets.
import fc from 'fast-check';
import { parsePipeline } from '../../src/pipeline/load.js';
import { ingestPathFor } from './stores.js';

export const everyStorePipeline = parsePipeline(`
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

/** The start of the events' two hours, and the entity keys they use. */
export const T0 = Date.UTC(2026, 11, 4, 9);
export const IDS = Array.from({ length: 12 }, (_, i) => `e${i}`);

export interface StoreEvent {
  id: string;
  dt: number;
  amount: number;
  shop: string;
  lat: number;
  lon: number;
  x: number;
}

export const storeEventArb: fc.Arbitrary<StoreEvent> = fc.record({
  id: fc.constantFrom(...IDS),
  dt: fc.integer({ min: 0, max: 2 * 3_600_000 }),
  amount: fc.integer({ min: 1, max: 500 }),
  shop: fc.constantFrom('s1', 's2', 's3', 's4', 's5'),
  lat: fc.double({ min: 48.8, max: 48.9, noNaN: true }),
  lon: fc.double({ min: 2.3, max: 2.4, noNaN: true }),
  x: fc.integer({ min: -5, max: 5 }),
});

/** Stores of the pipeline fed `events` (in time order: none late) through the app's ingest path, at `now`. */
export function fedStores(events: readonly StoreEvent[], now: number) {
  const path = ingestPathFor(everyStorePipeline, () => now);
  for (const e of events) {
    const out = path.processor.ingest('ev', [{ id: e.id, ts: T0 + e.dt, amount: e.amount, shop: e.shop, lat: e.lat, lon: e.lon, emb: [e.x, 1] }]);
    if (out.rejected > 0) throw new Error(`event refused: ${JSON.stringify(out.errors)}`);
  }
  return path.stores;
}
