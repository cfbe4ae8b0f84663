import fc from 'fast-check';
import { ExpiryQueue } from './expiry-queue.js';

describe(ExpiryQueue.name, () => {
  it('reports exactly the ids last seen ttl or more ago, however often they were touched', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(1, 10, 999, 5000),
        fc.array(fc.oneof(fc.record({ id: fc.integer({ min: 0, max: 40 }), dt: fc.integer({ min: -20, max: 200 }) }), fc.record({ tick: fc.integer({ min: 0, max: 4000 }) }), fc.record({ del: fc.integer({ min: 0, max: 40 }) })), { maxLength: 300 }),
        (ttl, ops) => {
          const sut = new ExpiryQueue(ttl, 4);
          sut.grow(41);
          const seen = new Float64Array(41);
          const live = new Map<number, number>();
          let now = 10_000_000;
          for (const o of ops) {
            if ('id' in o) {
              const ts = now + o.dt;
              if (!live.has(o.id)) sut.add(o.id, ts);
              const last = Math.max(live.get(o.id) ?? -Infinity, ts);
              live.set(o.id, last);
              seen[o.id] = last;
            } else if ('del' in o) {
              if (live.delete(o.del)) sut.delete(o.del);
            } else {
              now += o.tick;
              const got: number[] = [];
              sut.expire(now, (id) => seen[id], (id) => got.push(id));
              const due = [...live].filter(([, s]) => s <= now - ttl).map(([id]) => id);
              for (const id of due) live.delete(id);
              expect(got.sort((a, b) => a - b)).toEqual(due.sort((a, b) => a - b));
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
