// A partition's state handed over: encoded from one instance's stores (only the keys of the
// partition), decoded and absorbed into another instance's stores that never held those keys,
// gives stores that read exactly as the first (state digest, as-of reads, vectors).
import fc from 'fast-check';
import { digestStores } from '../durability/digest.js';
import { parsePipeline } from '../pipeline/load.js';
import { absorbStores, dropEntities } from '../store-set.js';
import { ingestPathFor } from '../../test/support/stores.js';
import { decodePartition, encodePartition } from './partition-state.js';

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

describe('partition state', () => {
  it('moves exactly the selected keys from one instance to another', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(eventArb, { maxLength: 120 }), fc.subarray(IDS), async (raw, moved) => {
        const events = [...raw].sort((a, b) => a.dt - b.dt);
        const now = T0 + 2 * 3_600_000 + 1;
        const inPartition = new Set(moved);
        const keep = (key: string) => inPartition.has(key);
        const feed = () => {
          const path = ingestPathFor(pipeline, () => now);
          for (const e of events) path.processor.ingest('ev', [{ id: e.id, ts: T0 + e.dt, amount: e.amount, shop: e.shop, lat: e.lat, lon: e.lon, emb: [e.x, 1] }]);
          return path.stores;
        };
        const owner = feed();
        const meta = { partition: 3, offsets: [{ topic: 'ev', offset: '41' }], watermarks: [{ source: 'ev', ts: T0 }], pipeline: 'h', instanceId: 'a', createdAt: now };
        const buf = await encodePartition(owner, keep, meta);
        // The next owner holds every other key, never the moved ones.
        const next = feed();
        dropEntities(next, keep);
        const decoded = await decodePartition(buf, pipeline);
        expect(decoded.meta).toEqual(meta);
        absorbStores(next, decoded.stores);
        expect((await digestStores(next, [], now)).stores).toEqual((await digestStores(owner, [], now)).stores);
        const at = now - 30 * 60_000;
        for (const id of IDS) {
          expect(next.features.read('n', id, '1h', now, undefined, at)).toEqual(owner.features.read('n', id, '1h', now, undefined, at));
          expect(next.views.read('profile', id, now, at)).toEqual(owner.views.read('profile', id, now, at));
        }
        const near = (s: typeof owner) => s.views.similar('profile', { field: 'emb', k: IDS.length, vector: [1, 1] }, now).map((h) => h.entity).sort();
        expect(near(next)).toEqual(near(owner));
      }),
      { numRuns: 40 },
    );
  });

  it('refuses damaged bytes, naming the problem', async () => {
    const stores = ingestPathFor(pipeline, () => T0).stores;
    const buf = await encodePartition(stores, () => true, { partition: 0, offsets: [], watermarks: [], pipeline: 'h', instanceId: 'a', createdAt: T0 });
    buf[buf.length - 30] ^= 0xff;
    await expect(decodePartition(buf, pipeline)).rejects.toThrow(/partition state unreadable: .*checksum/);
  });
});
