/*
 * Tally's partition assigner for kafkajs (a custom `partitionAssigners` entry), and the
 * reading of the group's map with describeGroup. Next to kafka-ingest.ts: with it, the only
 * files that import kafkajs. The assignment itself is src/cluster/assignment.ts.
 *
 * kafkajs facts this relies on (2.2.4): protocol() puts each member's userData in its join
 * metadata, only the leader's assign() sees every member's; what the leader writes into an
 * assignment's userData does not reach the members' GROUP_JOIN event, so every member reads
 * the whole map with describeGroup() after each join (members' metadata and assignments).
 */
import { AssignerProtocol, Partitioners, type Assigner, type GroupDescription, type PartitionAssigner } from 'kafkajs';
import { assignPartitions, decodeAssignmentData, decodeMemberData, encodeData, type ClusterMap, type Knowledge } from '../cluster/assignment.js';

export const TALLY_ASSIGNER = 'TallyAssigner';

/** What this member puts into its join metadata, asked at each join. */
export interface AssignerSelf {
  instanceId: string;
  url: string;
  knowledge: () => Knowledge;
}

/** Thrown by the leader when the source topics' partition counts differ (start-up checks them first). */
export class PartitionCountMismatch extends Error {}

/**
 * Partitions of `topics` by partition number: partition p of every topic goes to the same
 * member (co-partitioned sources), balanced and sticky (src/cluster/assignment.ts).
 */
export function tallyAssigner(self: AssignerSelf): PartitionAssigner {
  return ({ cluster }) => {
    const assigner: Assigner = {
      name: TALLY_ASSIGNER,
      version: 1,
      protocol({ topics }) {
        return {
          name: TALLY_ASSIGNER,
          metadata: AssignerProtocol.MemberMetadata.encode({ version: 1, topics, userData: encodeData({ v: 1, instanceId: self.instanceId, url: self.url, knowledge: self.knowledge() }) }),
        };
      },
      async assign({ members, topics }) {
        const counts = topics.map((t) => cluster.findTopicPartitionMetadata(t).length);
        const count = counts[0] ?? 0;
        if (counts.some((c) => c !== count)) {
          throw new PartitionCountMismatch(`source topics must have the same number of partitions: ${topics.map((t, i) => `${t} has ${counts[i]}`).join(', ')}`);
        }
        const candidates = members.map((m) => {
          const meta = AssignerProtocol.MemberMetadata.decode(m.memberMetadata);
          const data = decodeMemberData(meta?.userData);
          // A member that is not Tally's (it could not have chosen this protocol) would still get a share.
          return { memberId: m.memberId, instanceId: data?.instanceId ?? m.memberId, url: data?.url ?? '', knowledge: data?.knowledge ?? { epoch: 0, holdings: [] } };
        });
        const result = assignPartitions(candidates, count);
        const userData = encodeData({ v: 1, epoch: result.epoch, knowledge: result.knowledge });
        return members.map((m) => {
          const partitions = result.partitions.get(m.memberId) ?? [];
          return {
            memberId: m.memberId,
            memberAssignment: AssignerProtocol.MemberAssignment.encode({ version: 1, assignment: Object.fromEntries(topics.map((t) => [t, partitions])), userData }),
          };
        });
      },
    };
    return assigner;
  };
}

/**
 * The map from a describeGroup answer, or undefined when the group is not stable (a
 * rebalance is on: ask again) or its assignments are not Tally's.
 */
export function mapFromGroup(group: GroupDescription, partitionCount: number): { map: ClusterMap; knowledge: Knowledge } | undefined {
  if (group.state !== 'Stable' || group.protocol !== TALLY_ASSIGNER) return undefined;
  let epoch = -1;
  let knowledge: Knowledge | undefined;
  const members = [];
  for (const m of group.members) {
    const data = decodeMemberData(AssignerProtocol.MemberMetadata.decode(m.memberMetadata)?.userData);
    const assignment = AssignerProtocol.MemberAssignment.decode(m.memberAssignment);
    const ad = decodeAssignmentData(assignment?.userData);
    if (data === undefined || assignment === null || ad === undefined) return undefined;
    if (ad.epoch > epoch) {
      epoch = ad.epoch;
      knowledge = ad.knowledge;
    }
    const partitions = [...new Set(Object.values(assignment.assignment).flat())].sort((a, b) => a - b);
    members.push({ instanceId: data.instanceId, url: data.url, partitions });
  }
  if (knowledge === undefined) return undefined;
  members.sort((a, b) => (a.instanceId < b.instanceId ? -1 : a.instanceId > b.instanceId ? 1 : 0));
  return { map: { epoch, partitionCount, members }, knowledge };
}

/** The partition of a key as kafkajs' (and the Java client's) default partitioner picks it: murmur2, modulo the count. */
export function keyPartitioner(): (key: string, partitionCount: number) => number {
  const pick = Partitioners.DefaultPartitioner();
  const metadata = new Map<number, { partitionId: number; leader: number }[]>();
  return (key, partitionCount) => {
    let m = metadata.get(partitionCount);
    if (m === undefined) {
      m = Array.from({ length: partitionCount }, (_, partitionId) => ({ partitionId, leader: 0, partitionErrorCode: 0, replicas: [], isr: [] }));
      metadata.set(partitionCount, m);
    }
    return pick({ topic: '', partitionMetadata: m as never, message: { key, value: null } });
  };
}
