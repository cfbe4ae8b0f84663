import fc from 'fast-check';
import type { VectorMetric } from './distance.js';
import { distance } from './distance.js';
import { VectorIndex } from './vector-index.js';

const METRICS: VectorMetric[] = ['cosine', 'l2', 'ip'];

/** Brute-force model: the distances of the k nearest accepted vectors, nearest first. */
function modelDistances(metric: VectorMetric, vectors: Map<string, number[]>, q: number[], k: number, accept: (e: string) => boolean = () => true): number[] {
  return [...vectors]
    .filter(([e]) => accept(e))
    .map(([, v]) => distance(metric, q, v))
    .sort((a, b) => a - b)
    .slice(0, k);
}

/** A vector with no zero norm (cosine refuses those before they reach the index). */
const vectorOf = (dims: number) =>
  fc.array(fc.float({ min: -10, max: 10, noNaN: true, noDefaultInfinity: true }), { minLength: dims, maxLength: dims }).filter((v) => v.some((x) => Math.abs(x) > 1e-3));

/** Embedding-like vectors: components in [-1, 1] in steps of 0.001, normalised for ip (the metric's premise). */
const embeddingOf = (dims: number, metric: VectorMetric) =>
  fc
    .array(fc.integer({ min: -1000, max: 1000 }), {
      minLength: dims,
      maxLength: dims,
    })
    .filter((v) => v.some((x) => x !== 0))
    .map((v) => {
      const n = metric === 'ip' ? Math.hypot(...v) : 1000;
      return v.map((x) => x / n);
    });

type Op = { kind: 'put'; entity: string; vector: number[] } | { kind: 'del'; entity: string };

const opsOf = (vector: fc.Arbitrary<number[]>, entities: number, minLength: number, maxLength: number) =>
  fc.array(
    fc.oneof(
      {
        weight: 4,
        arbitrary: fc.record({
          kind: fc.constant('put' as const),
          entity: fc.integer({ min: 0, max: entities - 1 }).map(String),
          vector,
        }),
      },
      {
        weight: 1,
        arbitrary: fc.record({
          kind: fc.constant('del' as const),
          entity: fc.integer({ min: 0, max: entities - 1 }).map(String),
        }),
      },
    ),
    { minLength, maxLength },
  );

/** Applies ops to the index (keeping each entity's slot, as a view does) and to a plain map. */
function apply(sut: VectorIndex, ops: Op[]): { model: Map<string, number[]>; slots: Map<string, number> } {
  const model = new Map<string, number[]>();
  const slots = new Map<string, number>();
  for (const op of ops) {
    const slot = slots.get(op.entity);
    if (op.kind === 'del') {
      if (slot !== undefined) sut.remove(slot);
      slots.delete(op.entity);
      model.delete(op.entity);
    } else {
      if (slot === undefined) slots.set(op.entity, sut.add(op.entity, op.vector));
      else sut.replace(slot, op.vector);
      model.set(op.entity, op.vector.map(Math.fround));
    }
  }
  return { model, slots };
}

describe(VectorIndex.name, () => {
  it('below the brute-force size answers exactly what a scan of every vector answers, after any puts, updates and deletes', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...METRICS),
        fc.integer({ min: 1, max: 6 }).chain((dims) => fc.tuple(fc.constant(dims), opsOf(vectorOf(dims), 40, 0, 120), vectorOf(dims), fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 4 }))),
        (metric, [dims, ops, q, k, mod]) => {
          const sut = new VectorIndex(dims, metric);
          const { model } = apply(sut, ops);
          const accept = (e: string) => Number(e) % mod === 0;
          const got = sut.search(q, k, (slot) => accept(sut.entity(slot)!));
          const want = modelDistances(metric, model, q, k, accept);
          expect(got.map((h) => h.distance)).toEqual(want.map((d) => expect.closeTo(d, 5)));
          for (const h of got) {
            expect(model.has(h.entity)).toBe(true);
            expect(h.distance).toBeCloseTo(distance(metric, q, model.get(h.entity)!), 5);
          }
          expect(sut.size).toBe(model.size);
        },
      ),
      { numRuns: 300, endOnFailure: true },
    );
  });

  it('below the brute-force size, orders equal distances by entity, at the k-th place too, wherever the vectors sit', () => {
    // Three vectors at clearly different distances from q, shared by many entities: exact ties.
    const q = [1, 0];
    const shapes = [
      [1, 0],
      [1, 1],
      [0, 1],
    ];
    fc.assert(
      fc.property(
        fc.constantFrom(...METRICS),
        fc.uniqueArray(fc.tuple(fc.string({ minLength: 1, maxLength: 4 }), fc.integer({ min: 0, max: 2 })), { selector: ([e]) => e, minLength: 1, maxLength: 60 }),
        fc.integer({ min: 1, max: 30 }),
        (metric, placed, k) => {
          const sut = new VectorIndex(2, metric);
          for (const [entity, shape] of placed) sut.add(entity, shapes[shape]);
          const want = placed
            .map(([entity, shape]) => ({ entity, d: distance(metric, q, shapes[shape]) }))
            .sort((a, b) => a.d - b.d || (a.entity < b.entity ? -1 : a.entity > b.entity ? 1 : 0))
            .slice(0, k)
            .map((h) => h.entity);
          expect(sut.search(q, k).map((h) => h.entity)).toEqual(want);
        },
      ),
      { numRuns: 300, endOnFailure: true },
    );
  });

  it('above it (the HNSW graph) finds at least 90 % of the true nearest, never a deleted or replaced vector, and k whenever k pass a filter', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...METRICS).chain((metric) => fc.tuple(fc.constant(metric), opsOf(embeddingOf(8, metric), 400, 300, 700), fc.array(embeddingOf(8, metric), { minLength: 5, maxLength: 5 }))),
        fc.integer({ min: 1, max: 10 }),
        ([metric, ops, queries], k) => {
          const sut = new VectorIndex(8, metric, { bruteForceBelow: 32 });
          const { model } = apply(sut, ops);
          expect(sut.usesGraph).toBe(true);
          let found = 0;
          let wanted = 0;
          for (const q of queries) {
            const got = sut.search(q, k);
            const want = modelDistances(metric, model, q, k);
            expect(got).toHaveLength(want.length);
            const kth = want[want.length - 1] ?? Infinity;
            // A hit is right when it is as near as the model's k-th (ties count as right).
            found += got.filter((h) => h.distance <= kth + 1e-5).length;
            wanted += want.length;
            for (const h of got) expect(h.distance).toBeCloseTo(distance(metric, q, model.get(h.entity)!), 5);
            // A selective filter (about 1 in 10): k results whenever k pass, and only those.
            const accept = (e: string) => Number(e) % 10 === 3;
            const filtered = sut.search(q, k, (slot) => accept(sut.entity(slot)!));
            expect(filtered).toHaveLength(modelDistances(metric, model, q, k, accept).length);
            for (const h of filtered) expect(accept(h.entity)).toBe(true);
          }
          expect(found).toBeGreaterThanOrEqual(0.9 * wanted);
        },
      ),
      { numRuns: 40, endOnFailure: true },
    );
  });

  it('uses the graph once it holds bruteForceBelow vectors, and a deleted or replaced vector is never found again', () => {
    const sut = new VectorIndex(2, 'l2', { bruteForceBelow: 64 });
    const slots: number[] = [];
    for (let i = 0; i < 300; i++) slots.push(sut.add(`e${i}`, [i, 0]));
    expect(sut.usesGraph).toBe(true);
    expect(sut.search([150, 0], 1)).toEqual([{ slot: slots[150], entity: 'e150', distance: 0 }]);
    sut.remove(slots[150]);
    expect(
      sut
        .search([150, 0], 2)
        .map((h) => h.entity)
        .sort(),
    ).toEqual(['e149', 'e151']);
    sut.replace(slots[10], [1000, 0]);
    expect(sut.search([10, 0], 1)[0].entity).not.toBe('e10');
    expect(sut.search([1000, 0], 1)[0]).toMatchObject({
      entity: 'e10',
      distance: 0,
    });
  });

  it('after a deferred load, scans until catchUp() has built the graph, with the same answers', async () => {
    const sut = new VectorIndex(3, 'cosine', { bruteForceBelow: 50 });
    sut.deferGraph();
    const rows = Array.from({ length: 500 }, (_, i) => [Math.sin(i), Math.cos(i * 1.3), (i % 7) - 3]);
    rows.forEach((v, i) => sut.add(String(i), v));
    expect(sut.usesGraph).toBe(false);
    const before = sut.search([1, 2, 3], 5);
    await sut.catchUp();
    expect(sut.usesGraph).toBe(true);
    expect(sut.search([1, 2, 3], 5).map((h) => h.distance)).toEqual(before.map((h) => expect.closeTo(h.distance, 6)));
  });
});
