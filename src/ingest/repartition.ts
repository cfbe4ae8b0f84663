/*
 * Repartitioning: exact stores keyed by another field than the message key, in a cluster.
 *
 * A member owns the partitions of message keys. A store whose entity is another field of the
 * event (merchant counts from card events keyed by card, a composite entity, entries per
 * fence) would be spread over every member, each holding what its partitions fed. Instead,
 * the member applying an event sends the event's updates of such stores (already routed:
 * store, name, entity, value, event time) to the repartition topic `<group>.tally-repartition`,
 * to the partition of the store's entity (the partitioner of message keys), and the owner of
 * that partition applies them. Each entity then lives whole in one partition, owned, dropped,
 * handed over, restored and kept warm like the message keys' entities; queries and
 * subscriptions route to it the same way.
 *
 * Exactly once. An update carries its origin: the (topic, partition, offset) of the source
 * message it came from and its place among that message's repartitioned updates. A message
 * applied again (a new owner reading on from an older state, a replay, a standby that sends
 * its copy's updates too) sends them again; the owner of the repartition partition applies an
 * update only when its origin is past the newest it applied from that origin partition (the
 * updates of one origin partition reach a repartition partition in the origin's order from
 * each sender). That bookkeeping (RepartitionDedup) is part of the partition's state: handed
 * over with it, kept by its standby, rebuilt by a replay. A batch's updates are sent before
 * its offsets count as applied, so no state covers a message whose updates were not sent.
 * Updates from time-driven changes (geo TTL exits crossing fences) have no origin message: they
 * are sent at once (sendTimed) and applied as they come.
 *
 * Plain TypeScript: the Kafka side (kafka-ingest.ts, standby.ts) sends and feeds the records.
 */
import type { Update } from './router.js';

/** The repartition topic of a cluster's consumer group. */
export function repartitionTopicOf(groupId: string): string {
  return `${groupId}.tally-repartition`;
}

/** One repartitioned update as written to the topic. */
export interface RepartitionRecord {
  /** Origin: topic, partition, offset (decimal), place among the message's repartitioned updates; null when time-driven. */
  o: [string, number, string, number] | null;
  /** The source the update was routed from, and its event time. */
  src: string;
  ts: number;
  u: Update;
}

/** A record to send: the entity's partition, its key, its JSON. */
export interface OutgoingRecord {
  partition: number;
  key: string;
  value: string;
}

/** `kind:name` of the stores to repartition (see cluster/keyed-stores.ts), and how to place an entity. */
export interface RepartitionPlan {
  stores: ReadonlySet<string>;
  partitionOf: (key: string) => number;
}

/**
 * The sending side, one per EventProcessor: collects the repartitioned updates of the message
 * being applied (origin set by at()), to be sent by the caller (flush) before it counts the
 * message applied.
 */
export class Repartitioner {
  private origin: { topic: string; partition: number; offset: string; seq: number } | undefined;
  private outbox: OutgoingRecord[] = [];
  /** Updates from time-driven changes (no origin), sent by sendTimed. */
  private timed: OutgoingRecord[] = [];

  /** `sendNow`: how updates of time-driven changes are sent (they belong to no batch). */
  constructor(
    private readonly plan: RepartitionPlan,
    private readonly sendNow?: (records: OutgoingRecord[]) => Promise<void>,
  ) {}

  /** True when the plan sends some stores' updates elsewhere. */
  get active(): boolean {
    return this.plan.stores.size > 0;
  }

  /** The message being applied now (undefined: updates from time-driven changes). */
  at(topic: string | undefined, partition: number, offset: string | undefined): void {
    this.origin = topic === undefined || offset === undefined ? undefined : { topic, partition, offset, seq: 0 };
  }

  /** Takes `u` into the outbox when its store is repartitioned (returns true: not applied here). */
  take(u: Update, source: string, ts: number): boolean {
    if (!this.plan.stores.has(`${u.store}:${u.name}`)) return false;
    const key = u.store === 'feature' || u.store === 'view' ? u.entity : u.member;
    const o = this.origin;
    const record: RepartitionRecord = { o: o === undefined ? null : [o.topic, o.partition, o.offset, o.seq++], src: source, ts, u };
    (o === undefined ? this.timed : this.outbox).push({ partition: this.plan.partitionOf(key), key, value: JSON.stringify(record) });
    return true;
  }

  /** Sends the updates of time-driven changes collected so far (no ordering to keep: they have no origin). */
  sendTimed(): Promise<void> {
    const records = this.timed;
    if (records.length === 0 || this.sendNow === undefined) return Promise.resolve();
    this.timed = [];
    return this.sendNow(records);
  }

  /** The records collected since the last call (the caller sends them). */
  drain(): OutgoingRecord[] {
    const out = this.outbox;
    this.outbox = [];
    return out;
  }
}

/** Per repartition partition: the newest origin applied per origin topic-partition. */
export class RepartitionDedup {
  private readonly byPartition = new Map<number, Map<string, { offset: bigint; seq: number }>>();

  /** True when the record is past the newest applied from its origin (then recorded as applied). */
  accept(partition: number, o: RepartitionRecord['o']): boolean {
    if (o === null) return true;
    const [topic, originPartition, offsetText, seq] = o;
    const offset = BigInt(offsetText);
    let seen = this.byPartition.get(partition);
    if (seen === undefined) {
      seen = new Map();
      this.byPartition.set(partition, seen);
    }
    const key = `${topic}\u0000${originPartition}`;
    const last = seen.get(key);
    if (last !== undefined && (offset < last.offset || (offset === last.offset && seq <= last.seq))) return false;
    seen.set(key, { offset, seq });
    return true;
  }

  /** The partitions with entries. */
  partitions(): number[] {
    return [...this.byPartition.keys()].sort((a, b) => a - b);
  }

  /** Forgets the partitions (handed over). */
  forget(partitions: Iterable<number>): void {
    for (const p of partitions) this.byPartition.delete(p);
  }

  /** A partition's entries, for its state (JSON). */
  export(partition: number): DedupEntry[] {
    return [...(this.byPartition.get(partition) ?? [])].map(([k, v]) => {
      const at = k.lastIndexOf('\u0000');
      return { topic: k.slice(0, at), partition: Number(k.slice(at + 1)), offset: v.offset.toString(), seq: v.seq };
    });
  }

  /** Loads a partition's entries (replacing what was there). */
  load(partition: number, entries: readonly DedupEntry[]): void {
    this.byPartition.set(partition, new Map(entries.map((e) => [`${e.topic}\u0000${e.partition}`, { offset: BigInt(e.offset), seq: e.seq }])));
  }
}

/** One origin's newest applied update, as a partition's state holds it. */
export interface DedupEntry {
  topic: string;
  partition: number;
  offset: string;
  seq: number;
}

/** Parses a record of the repartition topic; throws naming what is wrong. */
export function parseRepartitionRecord(raw: Buffer | null): RepartitionRecord {
  if (raw === null) throw new Error('empty repartition record');
  const r = JSON.parse(raw.toString('utf8')) as RepartitionRecord;
  if (typeof r !== 'object' || r === null || typeof r.ts !== 'number' || typeof r.src !== 'string' || typeof r.u !== 'object' || r.u === null) throw new Error('not a repartition record');
  if (r.o !== null && !(Array.isArray(r.o) && r.o.length === 4)) throw new Error('repartition record with a malformed origin');
  return r;
}
