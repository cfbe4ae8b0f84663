/*
 * Who owns which partition: the assignment a Tally cluster's consumer-group leader computes
 * (src/ingest/tally-assigner.ts runs it inside kafkajs) and the map every member learns.
 * Pure functions over plain data; no Kafka here.
 *
 * The unit of ownership is the partition NUMBER p across every source topic (the topics are
 * co-partitioned: partition p of each goes to the same member), like a Kafka Streams task.
 *
 * Stickiness. Every member carries, in its group metadata, what it knows of past
 * assignments (`Knowledge`): for each instance id the partitions it held the last time it
 * was a member, each with the epoch since which it held it. The leader merges what the
 * members report (per instance id, the newest record), then hands out partitions in the
 * order of their oldest claim: a claim (instance, partition, since) of a present instance is
 * honoured while that instance is below its share. Whatever is left goes, lowest partition
 * first, to the member holding fewest. So:
 * - the same members get the same partitions again (a rejoin after a rebalance, a new
 *   leader): nothing moves;
 * - an instance restarted under the same TALLY_INSTANCE_ID finds its old partitions waiting:
 *   the survivors remember its record (they took its partitions only since a later epoch,
 *   so its claims come first) and it gets exactly those back, the others keep theirs;
 * - a new member takes partitions only from members above their new share.
 * Balance: every member holds floor(P/m) or ceil(P/m) of the P partitions.
 *
 * Records of absent instances are kept for RETAIN_EPOCHS epochs (assignments), then dropped.
 */

/** One partition an instance holds, and the epoch since which it has held it. */
export interface Held {
  p: number;
  since: number;
}

/** What is known of one instance: its URL and the partitions it held at `epoch` (the last epoch it was a member). */
export interface Holding {
  instanceId: string;
  url: string;
  epoch: number;
  partitions: Held[];
}

/** What a member knows of past assignments; carried in its group metadata and in every assignment. */
export interface Knowledge {
  epoch: number;
  holdings: Holding[];
}

/** A member of the group as the leader sees it. */
export interface Candidate {
  memberId: string;
  instanceId: string;
  url: string;
  knowledge: Knowledge;
}

export interface Assignment {
  epoch: number;
  /** Partitions per member id, ascending. */
  partitions: Map<string, number[]>;
  /** The knowledge after this assignment: what every member learns and carries. */
  knowledge: Knowledge;
}

/** Epochs a departed instance's record is remembered, so a restart under the same id finds its partitions. */
export const RETAIN_EPOCHS = 1_000;

export const EMPTY_KNOWLEDGE: Knowledge = { epoch: 0, holdings: [] };

/** Per instance id, the newest record any member reports; and the newest epoch. */
export function mergeKnowledge(all: readonly Knowledge[]): Knowledge {
  const newest = new Map<string, Holding>();
  let epoch = 0;
  for (const k of all) {
    if (k.epoch > epoch) epoch = k.epoch;
    for (const h of k.holdings) {
      const seen = newest.get(h.instanceId);
      if (seen === undefined || h.epoch > seen.epoch) newest.set(h.instanceId, h);
    }
  }
  return { epoch, holdings: [...newest.values()].sort((a, b) => cmpStr(a.instanceId, b.instanceId)) };
}

function cmpStr(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The leader's assignment of partitions 0..partitionCount-1 to `members` (see the header).
 * Deterministic: the same input gives the same output whichever member leads.
 */
export function assignPartitions(members: readonly Candidate[], partitionCount: number): Assignment {
  const known = mergeKnowledge(members.map((m) => m.knowledge));
  const epoch = known.epoch + 1;
  // Members in a fixed order; of two members claiming one instance id (a misconfiguration),
  // the first by member id gets its claims.
  const sorted = [...members].sort((a, b) => cmpStr(a.instanceId, b.instanceId) || cmpStr(a.memberId, b.memberId));
  const byInstance = new Map<string, Candidate>();
  for (const m of sorted) if (!byInstance.has(m.instanceId)) byInstance.set(m.instanceId, m);
  const m = sorted.length;
  const out = new Map<string, number[]>(sorted.map((c) => [c.memberId, []]));
  if (m === 0) return { epoch, partitions: out, knowledge: { epoch, holdings: known.holdings } };
  const base = Math.floor(partitionCount / m);
  let extra = partitionCount % m;
  const owner = new Array<string | undefined>(partitionCount).fill(undefined);
  const take = (memberId: string, p: number): boolean => {
    const list = out.get(memberId)!;
    if (owner[p] !== undefined) return false;
    if (list.length >= base) {
      if (list.length > base || extra === 0) return false;
      extra--;
    }
    list.push(p);
    owner[p] = memberId;
    return true;
  };
  const claims: { since: number; instanceId: string; p: number; memberId: string }[] = [];
  for (const h of known.holdings) {
    const c = byInstance.get(h.instanceId);
    if (c === undefined) continue;
    for (const { p, since } of h.partitions) if (p < partitionCount) claims.push({ since, instanceId: h.instanceId, p, memberId: c.memberId });
  }
  claims.sort((a, b) => a.since - b.since || cmpStr(a.instanceId, b.instanceId) || a.p - b.p);
  for (const c of claims) take(c.memberId, c.p);
  // A partition whose owner is gone goes first to its standby in the last map (which may hold
  // a warm copy of it, TALLY_STANDBY_REPLICAS), while that member is below its share.
  const last = known.holdings.filter((h) => h.epoch === known.epoch).map((h) => ({ instanceId: h.instanceId, partitions: h.partitions.map((x) => x.p) }));
  for (const [p, id] of standbyIds(last)) {
    const c = byInstance.get(id);
    if (c !== undefined && p < partitionCount && owner[p] === undefined) take(c.memberId, p);
  }
  for (let p = 0; p < partitionCount; p++) {
    if (owner[p] !== undefined) continue;
    let best: Candidate | undefined;
    for (const c of sorted) {
      const n = out.get(c.memberId)!.length;
      const room = n < base || (n === base && extra > 0);
      if (room && (best === undefined || n < out.get(best.memberId)!.length)) best = c;
    }
    take(best!.memberId, p);
  }
  for (const list of out.values()) list.sort((a, b) => a - b);
  // The new knowledge: present instances' current partitions (keeping `since` where they
  // already held them), absent ones as remembered, unless forgotten.
  const previous = new Map(known.holdings.map((h) => [h.instanceId, h]));
  const holdings: Holding[] = [];
  for (const h of known.holdings) {
    if (!byInstance.has(h.instanceId) && h.epoch > epoch - RETAIN_EPOCHS) holdings.push(h);
  }
  for (const [instanceId, c] of byInstance) {
    const before = new Map((previous.get(instanceId)?.partitions ?? []).map((x) => [x.p, x.since]));
    holdings.push({ instanceId, url: c.url, epoch, partitions: out.get(c.memberId)!.map((p) => ({ p, since: before.get(p) ?? epoch })) });
  }
  holdings.sort((a, b) => cmpStr(a.instanceId, b.instanceId));
  return { epoch, partitions: out, knowledge: { epoch, holdings } };
}

// ---- what members carry in the group protocol ------------------------------------------

/** A member's group metadata userData. */
export interface MemberData {
  v: 1;
  instanceId: string;
  url: string;
  knowledge: Knowledge;
}

/** What the leader writes into every member's assignment userData. */
export interface AssignmentData {
  v: 1;
  epoch: number;
  knowledge: Knowledge;
}

export function encodeData(data: MemberData | AssignmentData): Buffer {
  return Buffer.from(JSON.stringify(data), 'utf8');
}

function isKnowledge(k: unknown): k is Knowledge {
  if (typeof k !== 'object' || k === null) return false;
  const x = k as Knowledge;
  return (
    Number.isInteger(x.epoch) &&
    Array.isArray(x.holdings) &&
    x.holdings.every(
      (h) => typeof h === 'object' && h !== null && typeof h.instanceId === 'string' && typeof h.url === 'string' && Number.isInteger(h.epoch) && Array.isArray(h.partitions) && h.partitions.every((q) => Number.isInteger(q?.p) && q.p >= 0 && Number.isInteger(q.since)),
    )
  );
}

function parse(buf: Buffer | null | undefined): unknown {
  if (!buf || buf.length === 0) return undefined;
  try {
    return JSON.parse(buf.toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}

/** A member's userData, or undefined when it is not Tally's (or unreadable). */
export function decodeMemberData(buf: Buffer | null | undefined): MemberData | undefined {
  const d = parse(buf) as MemberData | undefined;
  if (typeof d !== 'object' || d === null || d.v !== 1 || typeof d.instanceId !== 'string' || typeof d.url !== 'string' || !isKnowledge(d.knowledge)) return undefined;
  return d;
}

/** An assignment's userData, or undefined when it is not Tally's (or unreadable). */
export function decodeAssignmentData(buf: Buffer | null | undefined): AssignmentData | undefined {
  const d = parse(buf) as AssignmentData | undefined;
  if (typeof d !== 'object' || d === null || d.v !== 1 || !Number.isInteger(d.epoch) || !isKnowledge(d.knowledge)) return undefined;
  return d;
}

// ---- the map every member learns --------------------------------------------------------

export interface ClusterMember {
  instanceId: string;
  url: string;
  /** Partition numbers this member is active for, ascending. */
  partitions: number[];
}

/** The whole cluster as one member sees it after a join. */
export interface ClusterMap {
  epoch: number;
  partitionCount: number;
  members: ClusterMember[];
}

/** The owner of every partition in `map` (undefined where none is known). */
/**
 * The standby of each partition with `replicas` (0 or 1), computed by every member the same
 * from the map: the j-th partition (ascending) of the i-th member (instance-id order) has the
 * member (i + 1 + j mod (m - 1)) mod m, so one member's partitions are spread over all the
 * others and the survivors of a failure share its partitions evenly (assignPartitions hands a
 * lost partition to its standby first). None in a map of one member. Index = partition number.
 */
export function standbysOf(map: ClusterMap, replicas: number): (ClusterMember | undefined)[] {
  const out = new Array<ClusterMember | undefined>(map.partitionCount).fill(undefined);
  if (replicas < 1) return out;
  const standbys = standbyIds(map.members.map((m) => ({ instanceId: m.instanceId, partitions: m.partitions })));
  const byId = new Map(map.members.map((m) => [m.instanceId, m]));
  standbys.forEach((id, p) => {
    if (p < out.length && id !== undefined) out[p] = byId.get(id);
  });
  return out;
}

/** Partition -> standby instance id, by the rule of standbysOf, for members given in any order. */
function standbyIds(members: readonly { instanceId: string; partitions: readonly number[] }[]): Map<number, string> {
  const out = new Map<number, string>();
  const sorted = [...members].sort((a, b) => cmpStr(a.instanceId, b.instanceId));
  const m = sorted.length;
  if (m < 2) return out;
  sorted.forEach((member, i) => {
    [...member.partitions].sort((a, b) => a - b).forEach((p, j) => out.set(p, sorted[(i + 1 + (j % (m - 1))) % m]!.instanceId));
  });
  return out;
}

export function ownersOf(map: ClusterMap): (ClusterMember | undefined)[] {
  const owners = new Array<ClusterMember | undefined>(map.partitionCount).fill(undefined);
  for (const m of map.members) for (const p of m.partitions) if (p < owners.length) owners[p] = m;
  return owners;
}
