import fc from 'fast-check';
import { GeoIndex } from '../geo/geo-index.js';
import { SortedSet, type TieOrder } from '../leaderboard/sorted-set.js';
import { mergeAround, mergeNearest, mergeRank, mergeTop } from './merge.js';
import { localNeighbours, localRow, localTop } from './partition-reads.js';

/** One member: its score, a stamp from one global order (ties 'first') and the partition holding it. */
interface Member {
  member: string;
  score: number;
  stamp: number;
  partition: number;
}

/** The one-set model: every member in one array, sorted from scratch (score desc, then the tie rule). */
function modelOrder(members: Member[], ties: TieOrder): Member[] {
  return [...members].sort((a, b) => {
    if (a.score !== b.score) return b.score - a.score;
    if (ties === 'first' && a.stamp !== b.stamp) return a.stamp - b.stamp;
    return Buffer.compare(Buffer.from(b.member, 'utf8'), Buffer.from(a.member, 'utf8'));
  });
}

// Few scores: ties are the rule. Names mix prefixes, multi-byte and astral characters.
const nameArb = fc.oneof(fc.string({ unit: fc.constantFrom('a', 'b', 'z', 'é', '\uffff', '😀'), maxLength: 4 }), fc.nat(60).map((n) => `player:${n}`));
const scoreArb = fc.oneof({ weight: 6, arbitrary: fc.integer({ min: 0, max: 4 }) }, { weight: 1, arbitrary: fc.constantFrom(0.5, -1, Infinity, -Infinity) });

/** k partitions and distinct members, each with a distinct global stamp. */
const setupArb = fc.integer({ min: 1, max: 5 }).chain((k) =>
  fc
    .uniqueArray(fc.record({ member: nameArb, score: scoreArb, partition: fc.nat(k - 1) }), { selector: (m) => m.member, maxLength: 80 })
    .chain((ms) => fc.shuffledSubarray(ms.map((_, i) => i + 1), { minLength: ms.length, maxLength: ms.length }).map((stamps) => ({ k, members: ms.map((m, i) => ({ ...m, stamp: stamps[i] })) }))),
);

function partitionSets(k: number, members: Member[], ties: TieOrder): SortedSet[] {
  const sets = Array.from({ length: k }, () => new SortedSet({ ties }));
  // With ties 'first' the stamps are the global ones (see merge.ts: they must be comparable).
  for (const m of members) sets[m.partition].load({ member: m.member, score: m.score, updatedAt: NaN, order: ties === 'first' ? m.stamp : 0 });
  return sets;
}

describe('leaderboard merges over k partitions', () => {
  for (const ties of ['redis', 'first'] as const) {
    it(`equal the one-set answer: top N with offset, every rank, around-me (ties: ${ties})`, () => {
      fc.assert(
        fc.property(setupArb, fc.nat(12), fc.integer({ min: 0, max: 12 }), fc.nat(4), ({ k, members }, offset, limit, radius) => {
          const sets = partitionSets(k, members, ties);
          const order = modelOrder(members, ties);
          const row = (m: Member, i: number) => ({ rank: i + 1, member: m.member, score: m.score });
          const strip = (rows: { rank: number; member: string; score: number }[]) => rows.map((r) => ({ rank: r.rank, member: r.member, score: r.score }));

          const top = mergeTop(
            sets.map((s) => localTop(s, offset + limit)),
            offset,
            limit,
            ties,
          );
          expect(strip(top)).toEqual(order.slice(offset, offset + limit).map((m, i) => row(m, offset + i)));

          order.forEach((m, i) => {
            const own = localRow(sets[m.partition], m.member)!;
            expect(mergeRank(sets.map((s) => s.countAbove(own.score, own.member, own.stamp)))).toBe(i + 1);
            const around = mergeAround(
              own,
              sets.map((s) => localNeighbours(s, own, radius)),
              radius,
              ties,
            );
            const from = Math.max(0, i - radius);
            expect(strip(around)).toEqual(order.slice(from, i + radius + 1).map((x, j) => row(x, from + j)));
          });
        }),
        { numRuns: 300 },
      );
    });
  }

  it('a single partition answers as the set itself does (the one-partition case)', () => {
    fc.assert(
      fc.property(setupArb, fc.nat(10), fc.integer({ min: 0, max: 10 }), ({ members }, offset, limit) => {
        const [set] = partitionSets(1, members.map((m) => ({ ...m, partition: 0 })), 'redis');
        const merged = mergeTop([localTop(set, offset + limit)], offset, limit, 'redis');
        expect(merged.map((r) => ({ member: r.member, score: r.score }))).toEqual(limit === 0 ? [] : set.revRange(offset, offset + limit - 1));
      }),
      { numRuns: 100 },
    );
  });
});

describe('geo merges over k partitions', () => {
  // A few distinct positions, shared by several members: equal distances are common.
  const pointArb = fc.record({ lat: fc.constantFrom(40.7, 40.71, 40.72, 40.7005), lon: fc.constantFrom(-74, -74.01, -73.99) });
  const geoSetupArb = fc.integer({ min: 1, max: 5 }).chain((k) =>
    fc.record({
      k: fc.constant(k),
      members: fc.uniqueArray(fc.record({ member: nameArb, point: pointArb, partition: fc.nat(k - 1) }), { selector: (m) => m.member, maxLength: 60 }),
    }),
  );

  it('radius search and k nearest equal one index holding every member, ties by member included', () => {
    fc.assert(
      fc.property(geoSetupArb, pointArb, fc.constantFrom(0, 500, 1500, 5000), fc.nat(70), ({ k, members }, q, radius, limit) => {
        const whole = new GeoIndex();
        const parts = Array.from({ length: k }, () => new GeoIndex());
        for (const m of members) {
          whole.set(m.member, m.point.lat, m.point.lon, 0);
          parts[m.partition].set(m.member, m.point.lat, m.point.lon, 0);
        }
        expect(
          mergeNearest(
            parts.map((p) => p.search(q.lat, q.lon, radius, limit)),
            limit,
          ),
        ).toEqual(whole.search(q.lat, q.lon, radius, limit));
        expect(
          mergeNearest(
            parts.map((p) => p.nearest(q.lat, q.lon, limit)),
            limit,
          ),
        ).toEqual(whole.nearest(q.lat, q.lon, limit));
      }),
      { numRuns: 300 },
    );
  });
});
