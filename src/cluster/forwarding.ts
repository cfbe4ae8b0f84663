/*
 * Point lookups in a cluster: an entity's state lives with the member active for its
 * partition (murmur2 of the key modulo the partition count, as the producers' default
 * partitioner placed its events), so a lookup for an entity this instance does not own is
 * FORWARDED to the owner's /graphql, with the cluster secret in a header. A forwarded
 * request is never forwarded again: a receiver that does not own the entity (any more)
 * answers NOT_OWNER, and the caller re-reads the map from the group and retries once
 * (Redis Cluster's MOVED). Never a silently wrong answer: failing that, an error naming the
 * partition.
 *
 * Only entities keyed by their source's message key are routable this way (README
 * "Scaling out").
 */
import { timingSafeEqual } from 'node:crypto';
import { GraphQLError } from 'graphql';
import type { ClusterMember } from './assignment.js';
import type { ClusterState } from './cluster-state.js';
import { postJson } from './peer-http.js';

/** The header a peer presents the cluster secret in; a request carrying it is a forwarded one. */
export const CLUSTER_SECRET_HEADER = 'x-tally-cluster-secret';

/** How long a forwarded request may take before the lookup fails as unavailable. */
const FORWARD_TIMEOUT_MS = 5_000;

type Headers = Record<string, string | string[] | undefined>;

export interface ForwardCounter {
  inc(labels: { outcome: 'ok' | 'moved' | 'failed' }): void;
}

export class Forwarding {
  constructor(
    private readonly state: ClusterState,
    private readonly secret: string | undefined,
    private readonly counter?: ForwardCounter,
  ) {}

  get enabled(): boolean {
    return this.state.enabled && this.secret !== undefined;
  }

  /** True when `given` is this cluster's secret (a peer's request). */
  isPeerSecret(given: unknown): boolean {
    return matchesSecret(this.secret, given);
  }

  /**
   * True when the request came from a peer (it carries the right secret); throws when it
   * carries a wrong one (a forwarded request is answered locally, so that must be a peer).
   */
  isForwarded(headers: Headers | undefined): boolean {
    const given = headers?.[CLUSTER_SECRET_HEADER];
    if (given === undefined) return false;
    if (!this.isPeerSecret(given)) {
      throw new GraphQLError(`${CLUSTER_SECRET_HEADER}: not this cluster's secret`, { extensions: { code: 'FORBIDDEN' } });
    }
    return true;
  }

  /** The partition of an entity key. */
  partitionOf(entity: string): number {
    return this.state.partitionOf(entity);
  }

  /**
   * Where the entity is answered: undefined = here (single instance, owned here), else the
   * owning member. A forwarded request is always answered here, or refused with NOT_OWNER.
   */
  route(entity: string, forwarded: boolean): ClusterMember | undefined {
    if (!this.enabled) return undefined;
    const p = this.state.partitionOf(entity);
    if (this.state.owns(p)) {
      if (this.state.serves(p)) return undefined;
      this.requireRestored([p]);
      // The map says here, but the consumer has not got the partition (yet, or any more: a
      // rebalance between the join and the map read): its state here is not the partition's.
      throw unavailable([p], `${this.state.self.instanceId} does not hold it at the moment (a rebalance under way)`);
    }
    if (forwarded) {
      throw new GraphQLError(`partition ${p} (entity "${entity}") is not held by ${this.state.self.instanceId} at epoch ${this.state.map.epoch}`, {
        extensions: { code: 'NOT_OWNER', partition: p, epoch: this.state.map.epoch },
      });
    }
    const owner = this.state.ownerOf(p);
    if (owner === undefined) throw unavailable([p]);
    return owner;
  }

  /**
   * Runs `query` on the member owning `entities` (all in that member's partitions) and hands
   * back its data. On NOT_OWNER the map is re-read and, when the owner changed, asked once
   * more (`again` re-routes); any other failure is an UNAVAILABLE error naming the partitions.
   */
  async ask<T>(owner: ClusterMember, entities: readonly string[], query: string, variables: Record<string, unknown>, authorization: string | undefined, again: () => ClusterMember | undefined): Promise<T | undefined> {
    let target: ClusterMember | undefined = owner;
    for (let attempt = 0; attempt < 2; attempt++) {
      if (target === undefined) return undefined; // owned here now
      const answer = await this.post(target, query, variables, authorization).catch((err: unknown) => {
        this.counter?.inc({ outcome: 'failed' });
        throw unavailable(this.partitionsOf(entities), `${target!.instanceId} (${target!.url}) did not answer: ${String(err)}`);
      });
      const moved = answer.errors?.some((e) => e.extensions?.code === 'NOT_OWNER');
      if (!moved) {
        if (answer.errors?.length) {
          this.counter?.inc({ outcome: 'failed' });
          const e = answer.errors[0];
          throw new GraphQLError(e.message, { extensions: { ...(e.extensions ?? {}), forwardedTo: target.instanceId } });
        }
        this.counter?.inc({ outcome: 'ok' });
        return answer.data as T;
      }
      this.counter?.inc({ outcome: 'moved' });
      await this.state.refresh();
      target = again();
    }
    throw unavailable(this.partitionsOf(entities), 'the owner changed twice while asking (a rebalance)');
  }

  private partitionsOf(entities: readonly string[]): number[] {
    return [...new Set(entities.map((e) => this.state.partitionOf(e)))].sort((a, b) => a - b);
  }

  private async post(target: ClusterMember, query: string, variables: Record<string, unknown>, authorization: string | undefined): Promise<{ data?: unknown; errors?: { message: string; extensions?: Record<string, unknown> }[] }> {
    const headers: Record<string, string> = { [CLUSTER_SECRET_HEADER]: this.secret! };
    if (authorization !== undefined) headers.authorization = authorization;
    const res = await postJson(`${target.url}/graphql`, headers, { query, variables }, FORWARD_TIMEOUT_MS);
    const body = res.body as { data?: unknown; errors?: { message: string; extensions?: Record<string, unknown> }[] };
    if (body.data === undefined && !body.errors?.length) throw new Error(`HTTP ${res.status} without a GraphQL answer`);
    return body;
  }

  /**
   * Throws PARTITIONS_UNAVAILABLE naming those of `partitions` this instance is still restoring
   * (assigned without state and not caught up): an answer from part of their events would be wrong.
   */
  requireRestored(partitions: readonly number[]): void {
    const restoring = this.state.restoring();
    if (restoring.size === 0) return;
    const missing = partitions.filter((p) => restoring.has(p));
    if (missing.length === 0) return;
    const behind = missing.map((p) => restoring.get(p)).reduce<number | undefined>((sum, n) => (sum === undefined || n === undefined ? undefined : sum + n), 0);
    throw unavailable(missing, `${this.state.self.instanceId} is restoring ${missing.length === 1 ? 'it' : 'them'} from Kafka (${behind === undefined ? 'reading the offsets to reach' : `${behind} messages to go`})`);
  }
}

/** True when `given` is `secret` (compared in constant time); false without a secret. */
export function matchesSecret(secret: string | undefined, given: unknown): boolean {
  if (given === undefined || secret === undefined) return false;
  const a = Buffer.from(String(given));
  const b = Buffer.from(secret);
  return a.length === b.length && timingSafeEqual(a, b);
}

export function unavailable(partitions: number[], why?: string): GraphQLError {
  return new GraphQLError(`partitions ${partitions.join(', ')} are not available here${why ? `: ${why}` : ''}`, { extensions: { code: 'PARTITIONS_UNAVAILABLE', partitions } });
}
