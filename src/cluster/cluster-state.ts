/*
 * What this instance knows of the cluster: itself, the map (members, URLs, partitions,
 * epoch) learnt after each group join, and who owns a key. Plain TypeScript; the Kafka
 * side (src/ingest/tally-assigner.ts, kafka-ingest.ts) feeds it, the GraphQL and HTTP
 * side reads it.
 *
 * A single instance (no TALLY_ADVERTISED_URL) is the one-member case: it is shown as the
 * only member, active for every partition it consumes (every partition, in a group of one).
 */
import { EMPTY_KNOWLEDGE, ownersOf, standbysOf, type ClusterMap, type ClusterMember, type Knowledge } from './assignment.js';

export interface ClusterSelf {
  instanceId: string;
  /** Where peers reach this instance; '' for a single instance that advertises none. */
  url: string;
}

/** Maps a message key to its partition as the producers' default partitioner does. */
export type KeyPartitioner = (key: string, partitionCount: number) => number;

export class ClusterState {
  private current: ClusterMap;
  private owners: (ClusterMember | undefined)[] = [];
  /** What this member carries into the next join (see assignment.ts). */
  knowledge: Knowledge = EMPTY_KNOWLEDGE;
  /** Re-reads the map from the group (set by the Kafka side in a cluster); resolves when done. */
  refresher: (() => Promise<void>) | undefined;
  /** Messages not yet applied per partition number (summed over source topics), from the Kafka side. */
  lagOf: (() => Map<number, number>) | undefined;
  /** Partitions this instance is restoring, with the messages each still has to apply (undefined while unknown), from the Kafka side. */
  restoringOf: (() => Map<number, number | undefined>) | undefined;
  /** True when this instance answers for partition p now (assigned and restored), from the Kafka side; per lookup, so O(1). */
  servesOf: ((p: number) => boolean) | undefined;
  /** The partitions this instance answers a gather for, and those it is still handing over, from the Kafka side. */
  servingOf: (() => { partitions: number[]; handingOver: number[] }) | undefined;
  /** TALLY_STANDBY_REPLICAS (0 or 1): each partition's warm copy on the member after its owner. */
  standbyReplicas = 0;
  /** Called after every map change. */
  private readonly listeners: ((map: ClusterMap) => void)[] = [];

  constructor(
    readonly self: ClusterSelf,
    /** True in a cluster (TALLY_ADVERTISED_URL with Kafka). */
    readonly enabled: boolean,
    readonly partitioner: KeyPartitioner,
  ) {
    this.current = { epoch: 0, partitionCount: 1, members: [{ instanceId: self.instanceId, url: self.url, partitions: [0] }] };
    this.owners = ownersOf(this.current);
  }

  get map(): ClusterMap {
    return this.current;
  }

  /** Replaces the map (after a join). */
  update(map: ClusterMap): void {
    this.current = map;
    this.owners = ownersOf(map);
    for (const l of this.listeners) l(map);
  }

  /** Calls `listener` after every map change; returns what stops it. */
  onChange(listener: (map: ClusterMap) => void): () => void {
    this.listeners.push(listener);
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  /** Partition of a key (meaningful in a cluster, where every source has map.partitionCount partitions). */
  partitionOf(key: string): number {
    return this.partitioner(key, this.current.partitionCount);
  }

  /** The member active for partition p, or undefined while none is known (a rebalance). */
  ownerOf(p: number): ClusterMember | undefined {
    return this.owners[p];
  }

  /** True when this instance is active for partition p (always true for a single instance). */
  owns(p: number): boolean {
    return !this.enabled || this.owners[p]?.instanceId === this.self.instanceId;
  }

  /** Partitions this instance is rebuilding (assigned without state, not caught up yet), with what each still has to apply. */
  restoring(): Map<number, number | undefined> {
    return this.restoringOf?.() ?? new Map();
  }

  /** True when this instance answers for partition p now (assigned to it and restored); always for a single instance. */
  serves(p: number): boolean {
    return this.servesOf?.(p) ?? true;
  }

  /**
   * The partitions this instance answers a gather for (assigned to it and restored) and those
   * it is still handing over; for a single instance, every partition it consumes.
   */
  serving(): { partitions: number[]; handingOver: number[] } {
    return this.servingOf?.() ?? { partitions: this.localPartitions(), handingOver: [] };
  }

  /** Partitions this instance keeps a warm copy of (their owner's next member in the map), ascending. */
  standbyPartitions(): number[] {
    if (!this.enabled) return [];
    const out: number[] = [];
    standbysOf(this.current, this.standbyReplicas).forEach((m, p) => {
      if (m?.instanceId === this.self.instanceId) out.push(p);
    });
    return out;
  }

  /** Per member id: the partitions it keeps a warm copy of. */
  standbyMap(): Map<string, number[]> {
    const out = new Map<string, number[]>();
    standbysOf(this.current, this.standbyReplicas).forEach((m, p) => {
      if (m !== undefined) out.set(m.instanceId, [...(out.get(m.instanceId) ?? []), p]);
    });
    return out;
  }

  /** Partitions this instance is active for. */
  localPartitions(): number[] {
    return this.current.members.find((m) => m.instanceId === this.self.instanceId)?.partitions ?? [];
  }

  /** Asks the group for the map again (a peer said "not mine"); a no-op for a single instance. */
  async refresh(): Promise<void> {
    await this.refresher?.();
  }
}
