/*
 * The cluster as `GET /cluster` and the `cluster` query show it: members, their URLs, the
 * partitions each is active for (standby and restoring are empty until standby replicas
 * exist), the epoch, and this instance's lag per partition.
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
  return {
    instanceId: state.self.instanceId,
    clustered: state.enabled,
    epoch: map.epoch,
    partitionCount: map.partitionCount,
    members: map.members.map((m) => ({ instanceId: m.instanceId, url: m.url, self: m.instanceId === state.self.instanceId, active: [...m.partitions], standby: [], restoring: [] })),
    lag: state.localPartitions().map((partition) => ({ partition, lag: lags.get(partition) ?? 0 })),
  };
}
