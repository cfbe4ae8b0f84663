/*
 * The cluster as `GET /cluster` and the `cluster` query show it: members, their URLs, the
 * partitions each is active for (assigned), of those the ones the answering instance is still
 * restoring (assigned without state, rebuilt from Kafka; known for itself only), the epoch, and
 * this instance's lag per partition, and the partitions each keeps a warm copy of (standby).
 */
import type { ClusterState } from './cluster-state.js';

export interface ClusterMemberReport {
  instanceId: string;
  url: string;
  /** True for the instance that answered. */
  self: boolean;
  active: number[];
  standby: number[];
  restoring: number[];
}

export interface PartitionLagReport {
  partition: number;
  /** Messages not yet applied (summed over source topics) at the last batch. */
  lag: number;
}

export interface ClusterReport {
  /** The instance that answered. */
  instanceId: string;
  /** True in a cluster; false for a single instance (shown as the one member). */
  clustered: boolean;
  epoch: number;
  partitionCount: number;
  members: ClusterMemberReport[];
  /** Lag of the partitions this instance is active for. */
  lag: PartitionLagReport[];
}

export function clusterReport(state: ClusterState): ClusterReport {
  const map = state.map;
  const lags = state.lagOf?.() ?? new Map<number, number>();
  const restoring = state.restoring();
  const standby = state.standbyMap();
  return {
    instanceId: state.self.instanceId,
    clustered: state.enabled,
    epoch: map.epoch,
    partitionCount: map.partitionCount,
    members: map.members.map((m) => {
      const self = m.instanceId === state.self.instanceId;
      return {
        instanceId: m.instanceId,
        url: m.url,
        self,
        active: [...m.partitions],
        standby: standby.get(m.instanceId) ?? [],
        restoring: self ? m.partitions.filter((p) => restoring.has(p)) : [],
      };
    }),
    lag: state.localPartitions().map((partition) => ({ partition, lag: lags.get(partition) ?? 0 })),
  };
}
