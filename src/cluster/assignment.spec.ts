import fc from 'fast-check';
import { assignPartitions, decodeAssignmentData, decodeMemberData, encodeData, EMPTY_KNOWLEDGE, standbysOf, type Assignment, type Candidate, type Knowledge } from './assignment.js';

/** Members named i0..i(n-1), each carrying `knowledge`; member ids carry a generation so a restarted instance is a new member. */
function candidates(ids: readonly string[], knowledge: (id: string) => Knowledge, gen = 0): Candidate[] {
  return ids.map((instanceId) => ({ memberId: `${instanceId}-m${gen}`, instanceId, url: `http://${instanceId}:4000`, knowledge: knowledge(instanceId) }));
}

/** Partitions per instance id. */
function byInstance(a: Assignment, members: readonly Candidate[]): Map<string, number[]> {
  return new Map(members.map((m) => [m.instanceId, a.partitions.get(m.memberId)!]));
}

function checkBalanced(a: Assignment, partitionCount: number): void {
  const lists = [...a.partitions.values()];
  const all = lists.flat().sort((x, y) => x - y);
  expect(all).toEqual(Array.from({ length: partitionCount }, (_, p) => p));
  if (lists.length > 0) {
    const sizes = lists.map((l) => l.length);
    expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
  }
}

const idsArb = fc.uniqueArray(fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g'), { minLength: 1, maxLength: 7 });

describe(assignPartitions.name, () => {
  it('covers every partition once, balanced, whatever the members know; the same members keep the same partitions', () => {
    fc.assert(
      fc.property(fc.array(idsArb, { minLength: 1, maxLength: 8 }), fc.integer({ min: 1, max: 40 }), (rounds, partitionCount) => {
        // Members come and go; each round's members carry the previous round's knowledge.
        let knowledge: Knowledge = EMPTY_KNOWLEDGE;
        let epoch = 0;
        for (const ids of rounds) {
          const members = candidates(ids, () => knowledge);
          const a = assignPartitions(members, partitionCount);
          expect(a.epoch).toBe(epoch + 1);
          epoch = a.epoch;
          checkBalanced(a, partitionCount);
          // A rejoin of the same members (a new leader, another rebalance) moves nothing.
          const again = assignPartitions(candidates(ids, () => a.knowledge, 1), partitionCount);
          expect(byInstance(again, candidates(ids, () => a.knowledge, 1))).toEqual(byInstance(a, members));
          knowledge = again.knowledge;
          epoch = again.epoch;
        }
      }),
      { numRuns: 300 },
    );
  });

  it('gives an instance restarted under the same id exactly its partitions back, and the others keep theirs', () => {
    fc.assert(
      fc.property(fc.array(idsArb, { minLength: 1, maxLength: 6 }), fc.integer({ min: 1, max: 40 }), fc.nat(), (history, partitionCount, pick) => {
        // Some history of formation, then a settled group; one member leaves and comes back
        // knowing nothing (its memory was lost with its process).
        let knowledge: Knowledge = EMPTY_KNOWLEDGE;
        for (const ids of history) knowledge = assignPartitions(candidates(ids, () => knowledge), partitionCount).knowledge;
        const ids = history[history.length - 1];
        const settled = assignPartitions(candidates(ids, () => knowledge), partitionCount);
        const before = byInstance(settled, candidates(ids, () => knowledge));
        const gone = ids[pick % ids.length];
        const rest = ids.filter((id) => id !== gone);
        const without = assignPartitions(candidates(rest, () => settled.knowledge), partitionCount);
        if (rest.length > 0) checkBalanced(without, partitionCount);
        const back = candidates(ids, (id) => (id === gone ? EMPTY_KNOWLEDGE : without.knowledge), 2);
        const after = assignPartitions(back, partitionCount);
        checkBalanced(after, partitionCount);
        expect(byInstance(after, back)).toEqual(before);
      }),
      { numRuns: 300 },
    );
  });

  it('forms 4/4/4 from three instances joining one by one on 12 partitions, moving only what the newcomer takes', () => {
    const one = assignPartitions(candidates(['a'], () => EMPTY_KNOWLEDGE), 12);
    expect(one.partitions.get('a-m0')).toHaveLength(12);
    const two = assignPartitions(candidates(['a', 'b'], (id) => (id === 'a' ? one.knowledge : EMPTY_KNOWLEDGE)), 12);
    expect(two.partitions.get('a-m0')).toEqual([0, 1, 2, 3, 4, 5]);
    expect(two.partitions.get('b-m0')).toEqual([6, 7, 8, 9, 10, 11]);
    const three = assignPartitions(candidates(['a', 'b', 'c'], (id) => (id === 'c' ? EMPTY_KNOWLEDGE : two.knowledge)), 12);
    expect(three.partitions.get('a-m0')).toEqual([0, 1, 2, 3]);
    expect(three.partitions.get('b-m0')).toEqual([6, 7, 8, 9]);
    expect(three.partitions.get('c-m0')).toEqual([4, 5, 10, 11]);
    expect(three.epoch).toBe(3);
  });

  it('spreads one member\'s standbys over the others, and hands a lost member\'s partitions to their standbys, balanced', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.constantFrom('a', 'b', 'c', 'd', 'e'), { minLength: 2, maxLength: 5 }), fc.integer({ min: 2, max: 30 }), fc.nat(), (ids, partitionCount, pick) => {
        const formed = ids.reduce<{ knowledge: Knowledge; a?: Assignment; members: Candidate[] }>(
          (acc, _, i) => {
            const members = candidates(ids.slice(0, i + 1), () => acc.knowledge);
            const a = assignPartitions(members, partitionCount);
            return { knowledge: a.knowledge, a, members };
          },
          { knowledge: EMPTY_KNOWLEDGE, members: [] },
        );
        const map = { epoch: formed.a!.epoch, partitionCount, members: [...byInstance(formed.a!, formed.members)].sort(([x], [y]) => (x < y ? -1 : 1)).map(([instanceId, partitions]) => ({ instanceId, url: '', partitions })) };
        const standbys = standbysOf(map, 1);
        for (const m of map.members) {
          // Never its own standby; its partitions' standbys differ while there are others to take them.
          for (const p of m.partitions) expect(standbys[p]!.instanceId).not.toBe(m.instanceId);
          const used = new Set(m.partitions.map((p) => standbys[p]!.instanceId));
          expect(used.size).toBe(Math.min(m.partitions.length, map.members.length - 1));
        }
        // One member goes: the survivors take its partitions, each first by its standby.
        const lost = map.members[pick % map.members.length]!;
        const survivors = candidates(ids.filter((id) => id !== lost.instanceId).sort(), () => formed.knowledge, 1);
        const after = assignPartitions(survivors, partitionCount);
        checkBalanced(after, partitionCount);
        const now = byInstance(after, survivors);
        const toStandby = lost.partitions.filter((p) => now.get(standbys[p]!.instanceId)?.includes(p)).length;
        // Each standby takes its share of them as far as it has room below the even share
        // (balance first: a standby already at its share leaves them to the others).
        const base = Math.floor(partitionCount / survivors.length);
        let room = 0;
        for (const m of map.members) {
          if (m === lost) continue;
          const mine = lost.partitions.filter((p) => standbys[p]!.instanceId === m.instanceId).length;
          room += Math.min(mine, Math.max(0, base - m.partitions.length));
        }
        expect(toStandby).toBeGreaterThanOrEqual(room);
      }),
    );
  });

  it('reads back what it writes, and ignores metadata that is not its own', () => {
    const k: Knowledge = { epoch: 3, holdings: [{ instanceId: 'a', url: 'http://a:1', epoch: 3, partitions: [{ p: 0, since: 1 }] }] };
    expect(decodeMemberData(encodeData({ v: 1, instanceId: 'a', url: 'http://a:1', knowledge: k }))).toEqual({ v: 1, instanceId: 'a', url: 'http://a:1', knowledge: k });
    expect(decodeAssignmentData(encodeData({ v: 1, epoch: 3, knowledge: k }))).toEqual({ v: 1, epoch: 3, knowledge: k });
    expect(decodeMemberData(Buffer.from('not json'))).toBeUndefined();
    expect(decodeMemberData(Buffer.alloc(0))).toBeUndefined();
    expect(decodeAssignmentData(Buffer.from('{"v":1,"epoch":2,"knowledge":{"epoch":1,"holdings":[{"instanceId":1}]}}'))).toBeUndefined();
  });
});
