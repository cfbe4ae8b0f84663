/**
 * Standby replicas (TALLY_STANDBY_REPLICAS=1): warm copies of the partitions this member is the
 * standby of (the member after their owner in the map, assignment.ts standbysOf). A consumer of
 * its own group (`<group>.standby.<instance id>`, every partition of the source topics, only the
 * standby ones resumed) applies their events through an EventProcessor of their own into one
 * store set per partition, with its own offsets and watermarks; nothing in them is served. When
 * the member is assigned such a partition, KafkaIngest takes the copy (take()) and adopts it —
 * stores, offsets, watermarks — instead of loading or replaying: the new owner is behind only
 * by the standby's lag. A partition that stops being standby here is forgotten; a new one is
 * read from the earliest offset (in the background, while its owner serves it).
 *
 * With a repartition topic (repartition.ts) a copy also applies its partition of that topic,
 * keeps its de-duplication state, and sends the updates its source messages route elsewhere,
 * as the owner does: a copy promoted ahead of what its old owner had sent leaves nothing unsent
 * (the owners of those entities apply each update once).
 */
import { Kafka, logLevel, type Consumer, type EachBatchPayload } from 'kafkajs';
import { ChangeFeed, type Change } from '../changes/change-feed.js';
import type { Logger } from '../ops/logger.js';
import { Metrics } from '../ops/metrics.js';
import type { Pipeline } from '../pipeline/pipeline.js';
import { buildStores, type StoreSet } from '../store-set.js';
import { EventProcessor } from './event-processor.js';
import { Repartitioner, type DedupEntry, type OutgoingRecord, type RepartitionPlan } from './repartition.js';
import type { Router } from './router.js';

/** A warm copy of one partition: its stores, the last offset applied per topic, its watermarks. */
export interface WarmCopy {
  stores: StoreSet;
  offsets: Map<string, bigint>;
  watermarks: { source: string; ts: number }[];
  /** De-duplication state of its partition of the repartition topic. */
  dedup: DedupEntry[];
}

interface Copy {
  processor: EventProcessor;
  stores: StoreSet;
  offsets: Map<string, bigint>;
}

export class StandbyReplicas {
  private consumer: Consumer | undefined;
  private readonly copies = new Map<number, Copy>();
  /** Partition numbers of the source topics assigned to the standby consumer (all of them, in its own group). */
  private assigned: number[] = [];
  private wanted = new Set<number>();
  private readonly metrics = new Metrics();
  private repartition: { topic: string; plan: RepartitionPlan; send: (records: OutgoingRecord[]) => Promise<void> } | undefined;
  /** The updates of the batch being applied, on their way to the repartition topic. */
  private sending: Promise<void> = Promise.resolve();

  constructor(
    private readonly kafka: Kafka,
    private readonly groupId: string,
    private readonly router: Router,
    private readonly pipeline: Pipeline,
    private readonly log: Logger,
    private readonly clock: () => number = Date.now,
  ) {}

  static client(brokers: string[], instanceId: string): Kafka {
    return new Kafka({ clientId: `tally-standby-${instanceId}`, brokers, logLevel: logLevel.NOTHING, retry: { retries: 8 } });
  }

  /** Sets the repartition topic up (before start()): copies apply their partition of it and send their updates through `send`. */
  repartitionWith(topic: string, plan: RepartitionPlan, send: (records: OutgoingRecord[]) => Promise<void>): void {
    this.repartition = { topic, plan, send };
  }

  /** Resolves once the updates of the batches applied so far are sent (before a copy is promoted). */
  flushed(): Promise<void> {
    return this.sending;
  }

  private topics(): string[] {
    return this.repartition === undefined ? this.router.kafkaTopics() : [...this.router.kafkaTopics(), this.repartition.topic];
  }

  async start(): Promise<void> {
    const topics = this.topics();
    this.consumer = this.kafka.consumer({ groupId: this.groupId, maxWaitTimeInMs: 100 });
    this.consumer.on(this.consumer.events.GROUP_JOIN, (e) => {
      this.assigned = [...new Set(Object.values(e.payload.memberAssignment).flat())];
      this.apply(true);
    });
    await this.consumer.connect();
    await this.consumer.subscribe({ topics, fromBeginning: true });
    await this.consumer.run({ eachBatchAutoResolve: false, autoCommit: false, eachBatch: (p) => this.eachBatch(p) });
  }

  /** The partitions to keep warm (after each map change). */
  update(partitions: readonly number[]): void {
    const next = new Set(partitions);
    for (const p of [...this.copies.keys()]) if (!next.has(p)) this.copies.delete(p);
    this.wanted = next;
    this.apply(false);
  }

  /** Hands the warm copy of `p` over (it is kept here no more); undefined when there is none. */
  take(p: number): WarmCopy | undefined {
    const copy = this.copies.get(p);
    if (copy === undefined) return undefined;
    this.copies.delete(p);
    this.wanted.delete(p);
    this.apply(false);
    return { stores: copy.stores, offsets: copy.offsets, watermarks: copy.processor.watermarks.states().filter((w) => w.partition === p).map((w) => ({ source: w.source, ts: w.ts })), dedup: copy.processor.dedup.export(p) };
  }

  /** Partitions kept warm now, with the messages applied to each (for the report and tests). */
  warm(): number[] {
    return [...this.copies.keys()].sort((a, b) => a - b);
  }

  async stop(): Promise<void> {
    await this.consumer?.disconnect();
  }

  /** Creates the copies wanted and not yet held (read from the earliest offset), and pauses every other partition. */
  private apply(joined: boolean): void {
    const consumer = this.consumer;
    if (consumer === undefined || this.assigned.length === 0) return;
    const topics = this.topics();
    for (const p of this.wanted) {
      if (this.copies.has(p) && !joined) continue;
      if (!this.copies.has(p)) {
        const stores = buildStores(this.pipeline);
        const processor = new EventProcessor(this.router, stores, new ChangeFeed<Change>(), this.metrics, this.log, this.clock);
        if (this.repartition !== undefined) processor.repartitioner = new Repartitioner(this.repartition.plan);
        this.copies.set(p, { stores, processor, offsets: new Map() });
      }
      const copy = this.copies.get(p)!;
      for (const topic of topics) {
        const last = copy.offsets.get(topic);
        try {
          consumer.seek({ topic, partition: p, offset: last === undefined ? '-2' : (last + 1n).toString() });
        } catch {
          // Not assigned yet: the next join seeks it.
        }
      }
    }
    const idle = this.assigned.filter((p) => !this.wanted.has(p));
    const busy = this.assigned.filter((p) => this.wanted.has(p));
    try {
      if (idle.length > 0) consumer.pause(topics.map((topic) => ({ topic, partitions: idle })));
      if (busy.length > 0) consumer.resume(topics.map((topic) => ({ topic, partitions: busy })));
    } catch {
      // Joining: the next GROUP_JOIN applies it.
    }
  }

  /** Applies a batch to its partition's copy, synchronously (a take() never sees half a batch). */
  private async eachBatch({ batch, resolveOffset, heartbeat }: EachBatchPayload): Promise<void> {
    const copy = this.copies.get(batch.partition);
    const source = this.router.sourceOfTopic(batch.topic);
    const repartitioned = batch.topic === this.repartition?.topic;
    if (copy !== undefined && (source !== undefined || repartitioned)) {
      const last = copy.offsets.get(batch.topic);
      for (const m of batch.messages) {
        const offset = BigInt(m.offset);
        if (last !== undefined && offset <= last) continue;
        if (repartitioned) {
          try {
            copy.processor.applyRepartitioned(m.value, batch.topic, batch.partition, m.offset);
          } catch {
            // The owner logs and counts a record it cannot apply; the copy skips it alike.
          }
        } else {
          // Refusals are the owner's to send to the DLQ; a copy only applies what the owner applies.
          copy.processor.ingestRaw(source!, m.value, batch.partition, m.timestamp, batch.topic, m.offset);
        }
        copy.offsets.set(batch.topic, offset);
      }
      const outgoing = copy.processor.repartitioner?.drain() ?? [];
      if (outgoing.length > 0 && this.repartition !== undefined) {
        const send = this.repartition.send;
        this.sending = this.sending.then(() => send(outgoing)).catch((err: unknown) => this.log.warn({ error: String(err) }, 'standby: could not send repartitioned updates'));
        await this.sending;
      }
    }
    if (batch.messages.length > 0) resolveOffset(batch.messages[batch.messages.length - 1]!.offset);
    await heartbeat();
  }
}
