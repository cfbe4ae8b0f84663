import fc from 'fast-check';
import { StringInterner } from './interner.js';

describe(StringInterner.name, () => {
  it('maps names to ids like a Map under heavy churn (backward-shift deletion, rehash, id reuse)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 3000 })), { minLength: 1, maxLength: 6000 }), (ops) => {
        const sut = new StringInterner();
        const model = new Map<string, number>();
        for (const [add, k] of ops) {
          const name = `n${k}`;
          if (add) {
            if (sut.get(name) < 0) model.set(name, sut.add(name));
          } else {
            const id = sut.get(name);
            expect(sut.delete(id < 0 ? 1e9 : id)).toBe(model.delete(name));
          }
        }
        expect(sut.size).toBe(model.size);
        for (const [name, id] of model) {
          expect(sut.get(name)).toBe(id);
          expect(sut.nameOf(id)).toBe(name);
        }
        const ids = [...model.values()];
        expect(new Set(ids).size).toBe(ids.length);
        expect(Math.max(-1, ...ids)).toBeLessThan(sut.highWater);
      }),
      { numRuns: 60 },
    );
  });
});
