// dropEntities (a partition handed to another instance): the stores after dropping the keys of
// some entities read exactly as stores that only ever saw the other entities' events, in every
// kind of store (windows with history and topk, views with versions and vectors, leaderboard
// periods, geo members inside fences), as the state digest and as-of reads show.
import fc from 'fast-check';
import { digestStores } from './durability/digest.js';
import { dropEntities } from './store-set.js';
import { IDS, T0, fedStores, storeEventArb } from '../test/support/every-store.js';

describe('dropEntities', () => {
  it('leaves the stores as if the dropped entities had never had an event', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(storeEventArb, { maxLength: 120 }), fc.subarray(IDS), async (raw, dropped) => {
        // Events in time order, so lateness refuses none.
        const events = [...raw].sort((a, b) => a.dt - b.dt);
        const now = T0 + 2 * 3_600_000 + 1;
        const gone = new Set(dropped);
        const all = { stores: fedStores(events, now) };
        const removed = dropEntities(all.stores, (key) => gone.has(key));
        const kept = { stores: fedStores(events.filter((e) => !gone.has(e.id)), now) };
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
