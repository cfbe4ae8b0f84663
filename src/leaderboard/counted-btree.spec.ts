import fc from 'fast-check';
import { CountedBTree, type TieOrder } from './counted-btree.js';
import { compareUtf8 } from './utf8-order.js';

/** The obvious model: entries in an array, sorted from scratch on every check. */
interface ModelEntry {
  id: number;
  name: string;
  score: number;
  stamp: number;
}

function sorted(model: Map<string, ModelEntry>, ties: TieOrder): ModelEntry[] {
  return [...model.values()].sort((a, b) => {
    if (a.score !== b.score) return a.score - b.score;
    if (ties === 'first' && a.stamp !== b.stamp) return b.stamp - a.stamp;
    return compareUtf8(a.name, b.name);
  });
}

type Op = { kind: 'put' | 'move'; k: number; score: number } | { kind: 'remove'; k: number };

/** Enough members for several leaf levels (64 per leaf); few scores, so ties are the rule. */
const MEMBERS = 3000;
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('put' as const), k: fc.nat(MEMBERS - 1), score: fc.integer({ min: -3, max: 3 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('move' as const), k: fc.nat(MEMBERS - 1), score: fc.integer({ min: -3, max: 3 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('remove' as const), k: fc.nat(MEMBERS - 1) }) },
);
/** Runs of inserts then removes in key order grow and shrink the tree through every split and merge. */
const sweepArb = fc.record({ grow: fc.integer({ min: 0, max: MEMBERS }), shrink: fc.integer({ min: 0, max: MEMBERS }), fromTop: fc.boolean() });

function name(k: number, wide: boolean): string {
  const base = `m${String(k).padStart(5, '0')}`;
  return wide && k % 7 === 0 ? `${base}\u{1f600}` : base;
}

function check(sut: CountedBTree, model: Map<string, ModelEntry>, ties: TieOrder): void {
  sut.assertValid();
  const order = sorted(model, ties);
  expect(sut.length).toBe(order.length);
  const walked: number[] = [];
  for (let x = sut.head; x !== 0; x = sut.next(x)) walked.push(x);
  expect(walked).toEqual(order.map((e) => e.id));
  order.forEach((e, i) => {
    if (i % 17 !== 0 && i !== order.length - 1) return;
    expect(sut.rankOf(e.id)).toBe(i);
    expect(sut.byRank(i)).toBe(e.id);
    expect(sut.scoreOf(e.id)).toBe(e.score);
    expect(sut.previous(e.id)).toBe(i === 0 ? 0 : order[i - 1].id);
  });
  for (let s = -4; s <= 4; s++) {
    expect(sut.countBelow(s, false)).toBe(order.filter((e) => e.score < s).length);
    expect(sut.countBelow(s, true)).toBe(order.filter((e) => e.score <= s).length);
  }
  // countAbove for keys in and out of the tree: present members, absent names between and
  // beyond them, wide names, every score (some absent), stamps before, between and after.
  const names = ['', 'm01500\u{1f600}', 'n', '\u{1f600}'];
  for (let i = 0; i < order.length; i += 701) names.push(order[i].name, `${order[i].name}0`);
  const stamps = ties === 'first' ? [0, order.length > 0 ? order[order.length >> 1].stamp : 1, Number.MAX_SAFE_INTEGER] : [0];
  const before = (a: { score: number; stamp: number; name: string }, e: ModelEntry) =>
    a.score !== e.score ? a.score < e.score : ties === 'first' && a.stamp !== e.stamp ? a.stamp > e.stamp : compareUtf8(a.name, e.name) < 0;
  for (const s of [-4, -1, 0, 2]) {
    for (const n of names) {
      for (const stamp of stamps) {
        const key = { score: s, stamp, name: n };
        expect(sut.countAbove(s, stamp, n)).toBe(order.filter((e) => before(key, e)).length);
      }
    }
  }
  // A present member's own key counts exactly the entries ordered above it.
  order.forEach((e, i) => {
    if (i % 101 === 0) expect(sut.countAbove(e.score, e.stamp, e.name)).toBe(order.length - 1 - i);
  });
}

describe(CountedBTree.name, () => {
  for (const ties of ['redis', 'first'] as const) {
    it(`matches a sorted array through inserts, moves and removes (ties: ${ties})`, () => {
      fc.assert(
        fc.property(sweepArb, fc.array(opArb, { maxLength: 1500 }), fc.boolean(), (sweep, ops, wide) => {
          const sut = new CountedBTree(ties);
          const model = new Map<string, ModelEntry>();
          let stamp = 0;
          const put = (k: number, score: number) => {
            const n = name(k, wide);
            const id = sut.alloc(n);
            sut.insert(id, score, ++stamp);
            model.set(n, { id, name: n, score, stamp });
          };
          const remove = (n: string) => {
            const e = model.get(n)!;
            sut.remove(e.id);
            sut.release(e.id);
            model.delete(n);
          };
          for (let k = 0; k < sweep.grow; k++) put(k, k % 5);
          check(sut, model, ties);
          const names = [...model.keys()].sort();
          if (sweep.fromTop) names.reverse();
          for (const n of names.slice(0, sweep.shrink)) remove(n);
          check(sut, model, ties);
          for (const op of ops) {
            const n = name(op.k, wide);
            const e = model.get(n);
            if (op.kind === 'remove') {
              if (e) remove(n);
            } else if (e === undefined) put(op.k, op.score);
            else if (e.score !== op.score || ties === 'first') {
              e.score = op.score;
              e.stamp = ++stamp;
              sut.move(e.id, op.score, e.stamp);
            }
          }
          check(sut, model, ties);
        }),
        { numRuns: 40 },
      );
    });
  }

  it('recomputes every tie key, in leaves and inner nodes, when the common prefix shrinks', () => {
    const sut = new CountedBTree('redis');
    const model = new Map<string, ModelEntry>();
    for (let k = 0; k < 5000; k++) {
      const n = `player:${String(k * 7919 % 5000).padStart(8, '0')}`;
      const id = sut.alloc(n);
      sut.insert(id, k % 3, 0);
      model.set(n, { id, name: n, score: k % 3, stamp: 0 });
    }
    for (const n of ['play', 'zz', '']) {
      const id = sut.alloc(n);
      sut.insert(id, 1, 0);
      model.set(n, { id, name: n, score: 1, stamp: 0 });
      check(sut, model, 'redis');
    }
  });
});
