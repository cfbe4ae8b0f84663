/*
 * Point lookups in a cluster: an entity's state lives with the member active for its
 * partition (murmur2 of the key modulo the partition count, as the producers' default
 * partitioner placed its events), so a lookup for an entity this instance does not own is
 * FORWARDED to the owner over the peer bus (peer-bus.ts: a kept WebSocket opened with the
 * cluster secret), which answers with the engine's read as JSON (lookups.ts). A forwarded lookup is never forwarded again: a receiver
 * that does not own the entity (any more) answers NOT_OWNER, and the caller re-reads the map from the group and retries once
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
import { PointLookups, type LookupQuestion, type LookupReply, type LookupValues } from './lookups.js';
import type { PeerBus } from './peer-bus.js';
import { InputError } from '../input-error.js';

/** The header a peer presents the cluster secret in (forwarded lookups, gathered partials). */
export const CLUSTER_SECRET_HEADER = 'x-tally-cluster-secret';

/** How long a forwarded request may take before the lookup fails as unavailable. */
const FORWARD_TIMEOUT_MS = 5_000;

export interface ForwardCounter {
  inc(labels: { outcome: 'ok' | 'moved' | 'failed' }): void;
}

export class Forwarding {
  constructor(
    private readonly state: ClusterState,
    private readonly secret: string | undefined,
    private readonly counter?: ForwardCounter,
    /** The asking side of the peer bus (a member's; none on a single instance). */
    private readonly bus?: PeerBus,
  ) {}

  get enabled(): boolean {
    return this.state.enabled && this.secret !== undefined;
  }

  /** True when `given` is this cluster's secret (a peer's request). */
  isPeerSecret(given: unknown): boolean {
    return matchesSecret(this.secret, given);
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
   * Asks the member owning `q`'s entities (all in that member's partitions) for its read
   * (POST /cluster/lookup, lookups.ts) and hands it back. On NOT_OWNER the map is re-read and,
   * when the owner changed, asked once more (`again` re-routes; undefined = owned here now,
   * answered by the caller); any other failure is an UNAVAILABLE error naming the partitions.
   */
  async lookup<K extends LookupQuestion['kind']>(owner: ClusterMember, q: LookupQuestion & { kind: K }, authorization: string | undefined, again: () => ClusterMember | undefined): Promise<LookupValues[K] | undefined> {
    const entities = PointLookups.entitiesOf(q);
    let target: ClusterMember | undefined = owner;
    for (let attempt = 0; attempt < 2; attempt++) {
      if (target === undefined) return undefined; // owned here now
      const reply = await this.post(target, q, authorization).catch((err: unknown) => {
        this.counter?.inc({ outcome: 'failed' });
        throw unavailable(this.partitionsOf(entities), `${target!.instanceId} (${target!.url}) did not answer: ${String(err)}`);
      });
      if (reply.ok) {
        this.counter?.inc({ outcome: 'ok' });
        return reply.value as LookupValues[K];
      }
      if (reply.extensions.code !== 'NOT_OWNER') {
        this.counter?.inc({ outcome: 'failed' });
        throw new GraphQLError(reply.message, { extensions: { ...reply.extensions, forwardedTo: target.instanceId } });
      }
      this.counter?.inc({ outcome: 'moved' });
      await this.state.refresh();
      target = again();
    }
    throw unavailable(this.partitionsOf(entities), 'the owner changed twice while asking (a rebalance)');
  }

  /**
   * The owner's side of `lookup`: `q`'s read when every entity it names is owned and served
   * here, else the error a local lookup would give (NOT_OWNER, PARTITIONS_UNAVAILABLE; bad
   * input as BAD_USER_INPUT). A lookup is never forwarded again.
   */
  answerLookup(q: LookupQuestion, lookups: PointLookups): LookupReply {
    try {
      for (const entity of PointLookups.entitiesOf(q)) this.route(entity, true);
      return { ok: true, value: lookups.answer(q) };
    } catch (err) {
      if (err instanceof GraphQLError) return { ok: false, message: err.message, extensions: err.extensions };
      if (err instanceof InputError) return { ok: false, message: err.message, extensions: { code: 'BAD_USER_INPUT' } };
      throw err;
    }
  }

  private partitionsOf(entities: readonly string[]): number[] {
    return [...new Set(entities.map((e) => this.state.partitionOf(e)))].sort((a, b) => a - b);
  }

  private post(target: ClusterMember, q: LookupQuestion, authorization: string | undefined): Promise<LookupReply> {
    if (this.bus === undefined) return Promise.reject(new Error('no peer bus'));
    return this.bus.request<LookupReply>(target.url, 'lookup', authorization, q, FORWARD_TIMEOUT_MS);
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
