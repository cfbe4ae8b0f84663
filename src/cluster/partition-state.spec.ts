// A partition's state handed over: encoded from one instance's stores (only the keys of the
// partition), decoded and absorbed into another instance's stores that never held those keys,
// gives stores that read exactly as the first (state digest, as-of reads, vectors).
import fc from 'fast-check';
import { digestStores } from '../durability/digest.js';
import { absorbStores, dropEntities } from '../store-set.js';
import { IDS, T0, everyStorePipeline as pipeline, fedStores, storeEventArb } from '../../test/support/every-store.js';
import { ingestPathFor } from '../../test/support/stores.js';
import { decodePartition, encodePartition } from './partition-state.js';

describe('partition state', () => {
  it('moves exactly the selected keys from one instance to another', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(storeEventArb, { maxLength: 120 }), fc.subarray(IDS), async (raw, moved) => {
        const events = [...raw].sort((a, b) => a.dt - b.dt);
        const now = T0 + 2 * 3_600_000 + 1;
        const inPartition = new Set(moved);
        const keep = (key: string) => inPartition.has(key);
        const feed = () => fedStores(events, now);
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
