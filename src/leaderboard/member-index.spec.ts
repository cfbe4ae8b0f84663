import fc from 'fast-check';
import { MemberIndex } from './member-index.js';
import { CountedBTree } from './counted-btree.js';

describe(MemberIndex.name, () => {
  it('finds exactly the members a Map holds through adds, removes and rehashes', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 200 })), { maxLength: 400 }),
        fc.integer(),
        (ops, seed) => {
          const list = new CountedBTree();
          const sut = new MemberIndex(list, seed >>> 0);
          const model = new Map<string, number>();
          for (const [add, k] of ops) {
            const member = `m${k}`;
            if (add && !model.has(member)) {
              const x = list.alloc(member);
              sut.add(member, x);
              model.set(member, x);
            } else if (!add) {
              expect(sut.remove(member)).toBe(model.get(member) ?? 0);
              if (model.has(member)) list.release(model.get(member)!);
              model.delete(member);
            }
            expect(sut.size).toBe(model.size);
          }
          for (let k = 0; k <= 200; k++) expect(sut.get(`m${k}`)).toBe(model.get(`m${k}`) ?? 0);
          expect([...sut.handles()].sort((a, b) => a - b)).toEqual([...model.values()].sort((a, b) => a - b));
        },
      ),
      { numRuns: 200 },
    );
  });
});
