/**
 * Kafka ingest: one consumer group over every source topic, `eachBatch` with explicit
 * `resolveOffset` + `heartbeat` (kafkajs docs/Consuming.md), and a producer for the dead
 * letter topics (`<topic>.dlq`). The only file that imports kafkajs, so the client can be
 * swapped without touching the rest.
 *
 * A batch is applied message by message; refused messages are written to the DLQ with their
 * reason, source topic, partition and offset in headers, and only after that write succeeds
 * are the batch's offsets resolved. The refusals of one source partition go to one DLQ
 * partition (source partition modulo the DLQ's partition count), in offset order, in writes of
 * at most MAX_DLQ_COPY_BYTES, each all or nothing. Once the offsets are recorded past them
 * (the stores hold the events around them) they are owed until written: a failed write
 * (counted, logged) fails the batch, kafkajs fetches it again after a pause, and the owed
 * records are written, once each, before any batch is applied; the messages the stores already
 * hold are skipped (the guard below), never applied twice. While refusals are owed no snapshot
 * is taken (snapshotOffsets() throws): a restart from it would lose them. A crash re-reads from
 * the last snapshot and writes its refusals again (at least once across a crash).
 *
 * Positions are Tally's own, not the consumer group's: this class records the offset of the
 * last message applied per partition (what a snapshot stores), start() seeks every partition
 * to where the restored state ends, and offsets are committed to the group only when a
 * snapshot holding them is on disk (commit(); auto-commit is off), for lag monitoring. Two
 * guards keep the stores exact even if the client starts elsewhere (a rebalance, a consumer
 * restart after a crash event): a message at or below the last applied offset is skipped,
 * and a batch fetched beyond the next expected offset is dropped and the partition sought
 * back. Each batch enters the IngestGate, so a snapshot sees no batch half applied.
 *
 * A stall watch says when Kafka cannot be read: no fetch response for longer than `stallMs`
 * (broker gone, no partition leader, consumer crashed and restarting) while fetching is not
 * paused on purpose (restore, snapshot) makes `connected` false and degradation() give the
 * reason, counted in tally_kafka_stalls_total. Fetching idles at most 100 ms (maxWaitTimeInMs),
 * so a quiet topic is never taken for a stall. Once responses come again, the degradation
 * lasts until the assigned partitions have caught up with what the brokers held at that moment.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { Kafka, logLevel, Partitioners, type Consumer, type EachBatchPayload, type LogEntry, type Producer } from 'kafkajs';
import { InputError } from '../input-error.js';
import type { ClusterState } from '../cluster/cluster-state.js';
import type { Degradation } from '../ops/health.js';
import type { Logger } from '../ops/logger.js';
import type { Metrics } from '../ops/metrics.js';
import type { EventProcessor } from './event-processor.js';
import type { IngestGate } from './ingest-gate.js';
import type { Router } from './router.js';
import { mapFromGroup, tallyAssigner } from './tally-assigner.js';
import { readStates, stateTopicOf, writeState } from './kafka-state.js';
import { decodePartition, encodePartition } from '../cluster/partition-state.js';
import type { Pipeline } from '../pipeline/pipeline.js';
import { absorbStores, type StoreSet } from '../store-set.js';
import type { StandbyReplicas, WarmCopy } from './standby.js';
import { Repartitioner, repartitionTopicOf, type DedupEntry, type OutgoingRecord } from './repartition.js';

export interface KafkaIngestOptions {
  brokers: string[];
  groupId: string;
  clientId?: string;
  /** Read a new group's partitions from the earliest offset (default) or only new messages. */
  fromBeginning?: boolean;
  /** Consumer session timeout (KAFKA_SESSION_TIMEOUT_MS); default 30 s. */
  sessionTimeoutMs?: number;
  /** No fetch response for longer than this is a stall (TALLY_KAFKA_STALL_MS); default 5 s. */
  stallMs?: number;
  /** Partitions of the topics Tally creates (TALLY_PARTITIONS); default: the broker's. */
  partitions?: number;
  /**
   * The cluster this instance belongs to (or, not `enabled`, the one-instance map to keep):
   * in a cluster, the Tally assigner hands out partition numbers across the source topics,
   * the map is read after every join, the source topics must have one partition count, and
   * a partition this instance has no state for is read from the earliest offset.
   */
  cluster?: ClusterState;
  /**
   * In a cluster: hand partitions over through the state topic (kafka-state.ts): a graceful
   * stop writes each owned partition's state there, and a partition assigned without state is
   * loaded from there (when its offsets are still in the topics) instead of replayed.
   */
  handover?: { pipeline: Pipeline; pipelineHash: string };
  /** In a cluster with TALLY_STANDBY_REPLICAS=1: the warm copies this member keeps (standby.ts). */
  standby?: StandbyReplicas;
  /**
   * In a cluster: `kind:name` of the stores not keyed by their source's message key, whose
   * updates go through the repartition topic to their entity's owner (repartition.ts).
   */
  repartition?: ReadonlySet<string>;
}

/** Tries at reading a stable group map after a join, and the wait between them. */
const MAP_TRIES = 40;
const MAP_RETRY_MS = 250;

export const DLQ_SUFFIX = '.dlq';

/** Messages applied between two yields of the event loop within one batch (about a millisecond of work). */
export const KAFKA_SLICE = 200;

/** Wait before handing back a batch that found the IngestGate shut. */
const GATE_RETRY_MS = 50;

/** Longest a fetch waits for messages before answering empty: far below any stall bound. */
const FETCH_MAX_WAIT_MS = 100;

/** How often the stall watch looks (at most; a tenth of the bound when shorter). */
const STALL_TICK_MS = 250;

/** A partition's offsets as the broker holds them: `low` the earliest kept, `high` the next to be written. */
export interface PartitionRange {
  topic: string;
  partition: number;
  low: bigint;
  high: bigint;
}

/** The offset of the last message applied from one partition. */
export interface AppliedOffset {
  topic: string;
  partition: number;
  offset: bigint;
}

export const DLQ_HEADERS = {
  reason: 'tally-reason',
  error: 'tally-error',
  source: 'tally-source',
  topic: 'tally-source-topic',
  partition: 'tally-source-partition',
  offset: 'tally-source-offset',
  /** Present when the key and value were not copied: their size in bytes. */
  omitted: 'tally-omitted-bytes',
} as const;

/**
 * Largest key + value copied into a DLQ record. The DLQ topic is created with the broker's
 * defaults (max.message.bytes about 1 MB) while a source topic may accept more, so a larger
 * refused message is recorded without its key and value (the headers say where to read it:
 * source topic, partition, offset) rather than fail the write and stop the consumer.
 */
export const MAX_DLQ_COPY_BYTES = 512 * 1024;

/** One record for a DLQ topic, and the source offset it stands for. */
interface DlqRecord {
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, string>;
}

/** Refused messages of one source partition not yet in its DLQ, in offset order. */
interface Owed {
  topic: string;
  partition: number;
  records: DlqRecord[];
}

/** No snapshot now: refused messages the stores have gone past are not in their DLQ yet. Shown to the caller (an admin asking for a snapshot). */
export class DlqBacklogError extends InputError {
  constructor(message: string) {
    super(message);
    this.name = 'DlqBacklogError';
  }
}

/** Start-up refused: the source topics of a cluster differ in partition count (the message names them). */
export class PartitionCountMismatchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PartitionCountMismatchError';
  }
}

/** A write to a DLQ topic failed: the batch fails with it and is fetched again. */
export class DlqWriteError extends Error {
  constructor(message: string, options: { cause: unknown }) {
    super(message, options);
    this.name = 'DlqWriteError';
  }
}

export class KafkaIngest {
  private readonly kafka: Kafka;
  private consumer: Consumer | undefined;
  private producer: Producer | undefined;
  private running = false;
  /** Per `topic\u0000partition`: offset of the last message applied. */
  private readonly applied = new Map<string, AppliedOffset>();
  /** Per `topic\u0000partition`: the next offset to apply, once known. */
  private readonly expected = new Map<string, bigint>();
  /** Partitions already sought back once to their expected offset (see eachBatch). */
  private readonly soughtBack = new Map<string, bigint>();
  private catchUp: { targets: Map<string, bigint>; resolve: () => void } | undefined;
  /** Fetching paused by pause() (restore, snapshot); applied again on each join. */
  private pausedByUs = true;
  /** Per `topic\u0000partition`: refused messages applied past but not yet in the DLQ. */
  private readonly owed = new Map<string, Owed>();
  /** Partitions of each DLQ topic, as found at connect(). */
  private readonly dlqPartitions = new Map<string, number>();
  /** Partitions assigned at the last group join (`topic\u0000partition`), and their numbers. */
  private assigned: string[] = [];
  private assignedNumbers = new Set<number>();
  /** Per `topic\u0000partition`: messages not yet applied, at the last batch. */
  private readonly lag = new Map<string, { partition: number; lag: number }>();
  /** Partitions per source topic, as found at connect(). */
  private partitionCount = 1;
  /** Counts the map reads, so an older read never overwrites a newer one. */
  private mapReads = 0;

  // Handover in a cluster (see onAssignment): partition numbers, across every source topic.
  /** Handed over, their state not dropped yet (waiting for a snapshot being written). */
  private readonly dropping = new Set<number>();
  private dropQueued = false;
  /** Bumped when a partition's state is handed over, so a batch applied across it records nothing. */
  private readonly handovers = new Map<number, number>();
  /**
   * Assigned without state, rebuilt from the earliest offset: per `topic\u0000partition` the
   * offset to reach (what the brokers held when it was assigned), undefined while asking.
   */
  private readonly restoring = new Map<number, Map<string, bigint> | undefined>();
  private askingTargets = false;
  /** Assigned without state, their handed-over state being looked for in the state topic: no batch applied meanwhile. */
  private readonly loading = new Set<number>();
  /** Partitions loaded from a handed-over state, since start (for the cluster report and tests). */
  loadedFromHandover = 0;

  // The stall watch (see the header); times are this.now() milliseconds.
  private readonly stallMs: number;
  private watch: NodeJS.Timeout | undefined;
  /** The last fetch response from a broker. */
  private lastFetchAt: number | undefined;
  /** The last sign of work in eachBatch (a long batch is no stall). */
  private lastBusyAt = 0;
  /** When the watch last started counting (start, resume after a pause). */
  private watchFrom = 0;
  /** Set when a stall was detected; cleared by the next fetch response. */
  private stalledAt: number | undefined;
  /** Fetching again after a stall: the offsets to reach before the outage is over (undefined while asked for). */
  private recovering: { targets: Map<string, bigint> | undefined; asking: boolean } | undefined;
  /** The last consumer crash, and whether kafkajs gave up restarting it. */
  private lastError: string | undefined;
  private gaveUp = false;
  private stopped = false;
  private degraded: Degradation | undefined;

  constructor(
    private readonly options: KafkaIngestOptions,
    private readonly router: Router,
    private readonly processor: EventProcessor,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    private readonly gate: IngestGate,
    /** The clock of the stall watch (tests drive it). */
    private readonly now: () => number = Date.now,
  ) {
    this.stallMs = options.stallMs ?? 5_000;
    this.kafka = new Kafka({
      clientId: options.clientId ?? 'tally',
      brokers: options.brokers,
      logLevel: logLevel.WARN,
      logCreator: () => (entry: LogEntry) => this.kafkaLog(entry),
      retry: { retries: 8 },
    });
  }

  /** Started, not stopped, and fetching (not stalled for longer than the bound). */
  get connected(): boolean {
    return this.running && this.stalledAt === undefined;
  }

  /** When the consumer last received a fetch response (ISO 8601), or null. */
  get lastFetch(): string | null {
    return this.lastFetchAt === undefined ? null : new Date(this.lastFetchAt).toISOString();
  }

  /** Why Kafka is not read as it should be (stalled, or catching up after a stall), or undefined. */
  degradation(): Degradation | undefined {
    return this.degraded;
  }

  /** The repartition topic, in a cluster with stores not keyed by the message key; else undefined. */
  get repartitionTopic(): string | undefined {
    return this.options.cluster?.enabled && (this.options.repartition?.size ?? 0) > 0 ? repartitionTopicOf(this.options.groupId) : undefined;
  }

  /** The topics consumed: the sources', and the repartition topic in a cluster that has one. */
  private topics(): string[] {
    const repartition = this.repartitionTopic;
    return repartition === undefined ? this.router.kafkaTopics() : [...this.router.kafkaTopics(), repartition];
  }

  /** Creates missing source and DLQ topics, learns the DLQ partition counts and connects the DLQ producer. */
  async connect(): Promise<void> {
    await this.ensureTopics(this.router.kafkaTopics());
    const cluster = this.options.cluster;
    if (cluster !== undefined) {
      cluster.lagOf = () => {
        const out = new Map<number, number>();
        for (const { partition, lag } of this.lag.values()) out.set(partition, (out.get(partition) ?? 0) + lag);
        return out;
      };
      if (cluster.enabled) {
        const standby = this.options.standby;
        if (standby !== undefined) cluster.onChange(() => standby.update(cluster.standbyPartitions()));
        cluster.refresher = () => this.readMap();
        cluster.restoringOf = () => this.restoringPartitions();
        cluster.servesOf = (p) => this.assignedNumbers.has(p) && !this.restoring.has(p);
        cluster.servingOf = () => ({
          partitions: [...this.assignedNumbers].filter((p) => !this.restoring.has(p)).sort((a, b) => a - b),
          handingOver: [...this.dropping].sort((a, b) => a - b),
        });
      }
    }
    this.producer = this.kafka.producer({ allowAutoTopicCreation: true, createPartitioner: Partitioners.DefaultPartitioner });
    await this.producer.connect();
    if (this.repartitionTopic !== undefined && cluster !== undefined) {
      // Entities placed as message keys are (the partitioner of ClusterState), over the source topics' partition count.
      const plan = { stores: this.options.repartition!, partitionOf: (key: string) => cluster.partitioner(key, this.partitionCount) };
      this.processor.repartitioner = new Repartitioner(plan, (records) => this.sendRepartitioned(records));
      this.options.standby?.repartitionWith(this.repartitionTopic, plan, (records) => this.sendRepartitioned(records));
    }
  }

  /**
   * Sends what the messages just applied route to other entities' owners (repartition.ts),
   * trying again until the broker has it: their offsets count as applied only after this.
   */
  async sendRepartitioned(records: OutgoingRecord[]): Promise<void> {
    const topic = this.repartitionTopic;
    if (topic === undefined || records.length === 0) return;
    for (let attempt = 0; ; attempt++) {
      try {
        await this.producer!.send({ topic, messages: records.map((r) => ({ partition: r.partition, key: r.key, value: r.value })) });
        return;
      } catch (err) {
        if (this.stopped) throw err;
        if (attempt % 10 === 0) this.log.warn({ topic, records: records.length, error: String(err) }, 'could not write to the repartition topic; trying again');
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }

  /** Earliest kept and next offsets of every partition of every source topic. */
  async partitionRanges(): Promise<PartitionRange[]> {
    const admin = this.kafka.admin();
    await admin.connect();
    try {
      const out: PartitionRange[] = [];
      for (const topic of this.topics()) {
        for (const p of await topicOffsets(admin, topic)) out.push({ topic, partition: p.partition, low: BigInt(p.low), high: BigInt(p.high) });
      }
      return out;
    } finally {
      await admin.disconnect();
    }
  }

  /**
   * Joins the group and starts consuming, paused (resume() lets batches in), with every
   * partition of `from` sought to its offset (the next message to apply) when assigned.
   * `applied` are the offsets the restored state already reflects (kept for the next snapshot).
   */
  async start(from: readonly { topic: string; partition: number; next: bigint }[], applied: readonly AppliedOffset[]): Promise<void> {
    const topics = this.topics();
    for (const a of applied) this.applied.set(tpKey(a.topic, a.partition), { ...a });
    const cluster = this.options.cluster;
    // In a cluster a partition the restored state holds nothing of is no state of this member:
    // it is sought when assigned (earliest offset, or the state its last owner handed over).
    const held = new Set(applied.map((a) => tpKey(a.topic, a.partition)));
    for (const f of from) if (!cluster?.enabled || held.has(tpKey(f.topic, f.partition))) this.expected.set(tpKey(f.topic, f.partition), f.next);
    this.consumer = this.kafka.consumer({
      groupId: this.options.groupId,
      ...(cluster?.enabled ? { partitionAssigners: [tallyAssigner({ instanceId: cluster.self.instanceId, url: cluster.self.url, knowledge: () => cluster.knowledge })] } : {}),
      maxWaitTimeInMs: FETCH_MAX_WAIT_MS,
      sessionTimeout: this.options.sessionTimeoutMs ?? 30_000,
      heartbeatInterval: 3_000,
    });
    const { CRASH, GROUP_JOIN, REQUEST } = this.consumer.events;
    this.consumer.on(CRASH, (e) => {
      this.lastError = String(e.payload.error);
      if (!e.payload.restart) this.gaveUp = true;
      this.log.error({ error: this.lastError, restart: e.payload.restart }, 'kafka consumer crashed');
      this.watchStall();
    });
    this.consumer.on(GROUP_JOIN, (e) => {
      this.log.info({ memberAssignment: e.payload.memberAssignment }, 'joined consumer group');
      this.onAssignment(e.payload.memberAssignment);
      if (cluster?.enabled) void this.readMap();
      else if (cluster !== undefined) {
        const partitions = [...new Set(Object.values(e.payload.memberAssignment).flat())].sort((a, b) => a - b);
        cluster.update({ epoch: 0, partitionCount: this.partitionCount, members: [{ instanceId: cluster.self.instanceId, url: cluster.self.url, partitions }] });
      }
    });
    // A fetch response from a broker, whatever it holds (an idle one answers after maxWaitTimeInMs).
    this.consumer.on(REQUEST, (e) => {
      if (e.payload.apiName === 'Fetch') this.fetched();
    });
    this.watchFrom = this.now();
    this.watch = setInterval(() => this.watchStall(), Math.max(10, Math.min(STALL_TICK_MS, Math.floor(this.stallMs / 10))));
    this.watch.unref();
    await this.consumer.connect();
    await this.consumer.subscribe({ topics, fromBeginning: this.options.fromBeginning ?? true });
    await this.consumer.run({ eachBatchAutoResolve: false, autoCommit: false, eachBatch: (p) => this.eachBatch(p) });
    this.running = true;
    if (this.options.standby !== undefined && cluster !== undefined) {
      await this.options.standby.start();
      this.options.standby.update(cluster.standbyPartitions());
    }
    this.metrics.kafkaConnected.set(1);
    this.metrics.onCollect(() => {
      if (this.lastFetchAt !== undefined) this.metrics.kafkaLastFetch.set(this.lastFetchAt / 1000);
    });
    this.log.info({ brokers: this.options.brokers, groupId: this.options.groupId, topics, stallMs: this.stallMs }, 'kafka ingest started');
  }

  private fetched(): void {
    this.lastFetchAt = this.now();
    this.lastError = undefined;
    if (this.stalledAt !== undefined) this.watchStall();
  }

  /**
   * The stall watch (see the header), on a timer and on consumer events: enters a stall after
   * `stallMs` without a fetch response (at once when kafkajs gave up restarting the consumer),
   * leaves it at the next response, and ends the outage once the assigned partitions have
   * caught up. Pauses on purpose are no stall, and do not end one either.
   */
  private watchStall(): void {
    if (!this.running || this.stopped) return;
    const now = this.now();
    if (this.stalledAt === undefined) {
      const quietSince = Math.max(this.lastFetchAt ?? 0, this.lastBusyAt, this.watchFrom);
      if (this.gaveUp || (!this.pausedByUs && now - quietSince > this.stallMs)) {
        this.stalledAt = now;
        this.recovering = undefined;
        this.metrics.kafkaStalls.inc();
        this.metrics.kafkaConnected.set(0);
        this.log.error({ lastFetchAt: this.lastFetch, stallMs: this.stallMs, error: this.lastError }, 'kafka: no fetch response within TALLY_KAFKA_STALL_MS; degraded (answers are stale)');
      }
    } else if (!this.gaveUp && this.lastFetchAt !== undefined && this.lastFetchAt > this.stalledAt) {
      this.log.warn({ stalledForMs: now - this.stalledAt }, 'kafka: fetching again; degraded until caught up');
      this.stalledAt = undefined;
      this.recovering = { targets: undefined, asking: false };
      this.metrics.kafkaConnected.set(1);
    }
    if (this.recovering !== undefined) this.checkRecovered();
    this.degraded = this.describe(now);
  }

  /** After a stall: learns what the brokers hold now (once), then ends the outage when applied up to it. */
  private checkRecovered(): void {
    const r = this.recovering!;
    if (r.targets === undefined) {
      if (r.asking) return;
      r.asking = true;
      this.partitionRanges().then(
        (ranges) => {
          r.asking = false;
          r.targets = new Map(ranges.map((x) => [tpKey(x.topic, x.partition), x.high]));
          this.watchStall();
        },
        (err: unknown) => {
          r.asking = false; // asked again at the next look
          this.log.warn({ error: String(err) }, 'kafka: could not read the partition offsets to catch up with; trying again');
        },
      );
      return;
    }
    if (this.behind(r.targets) > 0n) return;
    this.recovering = undefined;
    this.log.info({ lastFetchAt: this.lastFetch }, 'kafka: caught up after the outage; no longer degraded');
  }

  /** Messages of the assigned partitions not yet applied up to `targets`. */
  private behind(targets: Map<string, bigint>): bigint {
    let n = 0n;
    for (const key of this.assigned) {
      const target = targets.get(key);
      const next = this.expected.get(key) ?? 0n;
      if (target !== undefined && next < target) n += target - next;
    }
    return n;
  }

  private describe(now: number): Degradation | undefined {
    const bound = `TALLY_KAFKA_STALL_MS=${this.stallMs}`;
    if (this.stalledAt !== undefined) {
      const quiet = this.lastFetchAt === undefined ? 'no fetch response from Kafka yet' : `no fetch response from Kafka for ${Math.round((now - this.lastFetchAt) / 1000)} s`;
      const why = this.gaveUp
        ? `the Kafka consumer stopped after an error it does not retry (${this.lastError ?? 'unknown'}); restart Tally`
        : `${quiet} (${bound})${this.lastError ? `; last error: ${this.lastError}` : ''}`;
      return { reason: why, lastFetchAt: this.lastFetch };
    }
    if (this.recovering !== undefined) {
      const behind = this.recovering.targets === undefined ? 'reading the partition offsets' : `${this.behind(this.recovering.targets)} messages behind`;
      return { reason: `catching up with Kafka after it could not be read for longer than ${bound} (${behind})`, lastFetchAt: this.lastFetch };
    }
    return undefined;
  }

  /**
   * On every (re)join — the first, after a rebalance, after the client restarted itself —
   * before fetching starts: seek each assigned partition to the next offset to apply, and
   * keep fetching paused if it is. kafkajs calls GROUP_JOIN listeners synchronously there.
   */
  private onAssignment(assignment: Record<string, number[]>): void {
    const before = new Set(this.assigned.map(partitionOfKey));
    this.assigned = Object.entries(assignment).flatMap(([topic, partitions]) => partitions.map((p) => tpKey(topic, p)));
    this.assignedNumbers = new Set(Object.values(assignment).flat());
    if (this.options.cluster?.enabled) this.handOver(before, new Set(Object.values(assignment).flat()));
    for (const [topic, partitions] of Object.entries(assignment)) {
      for (const partition of partitions) {
        const next = this.expected.get(tpKey(topic, partition));
        if (next !== undefined) this.consumer?.seek({ topic, partition, offset: next.toString() });
        // In a cluster the group's committed offsets may be another member's: a partition
        // this instance holds no state for is read from the start (until state handover).
        else if (this.options.cluster?.enabled) this.consumer?.seek({ topic, partition, offset: '-2' });
      }
    }
    if (this.pausedByUs) this.setPaused(true);
    this.checkCaughtUp();
  }

  /**
   * In a cluster, after a join: the state of partitions this instance held (assigned before,
   * or restored from a snapshot) and no longer has is dropped (its offsets and watermarks at
   * once, its entities as soon as no snapshot is being written), so this instance answers for
   * exactly the partitions it owns; taken back later, such a partition is rebuilt from the
   * earliest offset. A partition assigned without state is `restoring` until it has caught up
   * with what the brokers held when it was assigned; until then its keys are refused by name
   * (PARTITIONS_UNAVAILABLE), never answered from part of its events.
   */
  private handOver(before: ReadonlySet<number>, now: ReadonlySet<number>): void {
    const held = new Set(before);
    for (const key of this.expected.keys()) held.add(partitionOfKey(key));
    const lost = [...held].filter((p) => !now.has(p));
    if (lost.length > 0) {
      const gone = new Set(lost);
      for (const p of lost) {
        this.handovers.set(p, (this.handovers.get(p) ?? 0) + 1);
        this.restoring.delete(p);
        // A load or promotion under way for it stops at its next step (the handover count moved).
        this.loading.delete(p);
        this.dropping.add(p);
      }
      for (const map of [this.applied, this.expected, this.soughtBack, this.lag] as Map<string, unknown>[]) {
        for (const key of [...map.keys()]) if (gone.has(partitionOfKey(key))) map.delete(key);
      }
      this.log.info({ partitions: lost }, 'cluster: partitions handed over; dropping their state');
      this.dropHandedOver();
    }
    let fresh = [...now].filter((p) => !this.restoring.has(p) && !this.loading.has(p) && ![...this.expected.keys()].some((k) => partitionOfKey(k) === p));
    // Partitions this member kept a warm copy of (standby replicas): promoted, no replay.
    const warm = new Map<number, WarmCopy>();
    for (const p of fresh) {
      const copy = this.options.standby?.take(p);
      if (copy !== undefined) warm.set(p, copy);
    }
    if (warm.size > 0) {
      const promoted = [...warm.keys()];
      for (const p of promoted) {
        this.restoring.set(p, undefined);
        this.loading.add(p);
      }
      this.askRestoreTargets();
      void this.promote(promoted, warm);
    }
    fresh = fresh.filter((p) => !warm.has(p));
    if (fresh.length > 0) {
      for (const p of fresh) this.restoring.set(p, undefined);
      this.askRestoreTargets();
      if (this.options.handover !== undefined) {
        for (const p of fresh) this.loading.add(p);
        this.log.info({ partitions: fresh }, 'cluster: partitions assigned without state; looking for the state their last owner handed over');
        void this.loadHandedOver(fresh);
      } else this.log.info({ partitions: fresh }, 'cluster: partitions assigned without state; restoring them from the earliest offset');
    }
  }

  /** Drops the state of handed-over partitions, inside the IngestGate (never during a snapshot). */
  private dropHandedOver(): void {
    const cluster = this.options.cluster;
    if (this.dropping.size === 0 || this.dropQueued || cluster === undefined) return;
    const run = () => {
      const partitions = new Set(this.dropping);
      this.dropping.clear();
      const count = this.partitionCount;
      const dropped = this.processor.dropPartitions(partitions, (key) => cluster.partitioner(key, count));
      this.log.info({ partitions: [...partitions], dropped }, 'cluster: state of handed-over partitions dropped');
    };
    if (this.gate.tryEnter()) {
      try {
        run();
      } finally {
        this.gate.leave();
      }
      return;
    }
    this.dropQueued = true;
    void this.gate.enter().then((entered) => {
      this.dropQueued = false;
      if (!entered) return;
      try {
        run();
      } finally {
        this.gate.leave();
      }
      this.dropHandedOver();
    });
  }

  /**
   * Loads the states handed over for `partitions` (state topic), each into the stores with its
   * offsets and watermarks, then reads on from there; a partition without a usable state (none,
   * another pipeline, offsets no longer or not yet in its topics) is replayed from the earliest
   * offset. Batches of these partitions wait until this is done.
   */
  private async loadHandedOver(partitions: number[]): Promise<void> {
    const handover = this.options.handover!;
    const generation = new Map(partitions.map((p) => [p, this.handovers.get(p) ?? 0]));
    const still = (p: number) => this.loading.has(p) && (this.handovers.get(p) ?? 0) === generation.get(p);
    try {
      const states = await readStates(this.kafka, stateTopicOf(this.options.groupId), partitions, this.options.cluster?.self.instanceId ?? 'tally');
      const ranges = states.size > 0 ? await this.partitionRanges() : [];
      for (const [p, buf] of states) {
        if (!still(p)) continue;
        const { meta, stores } = await decodePartition(buf, handover.pipeline);
        const why =
          meta.pipeline !== handover.pipelineHash
            ? 'written by a member running another pipeline'
            : meta.offsets.find((o) => {
                const r = ranges.find((x) => x.topic === o.topic && x.partition === p);
                return r === undefined || BigInt(o.offset) >= r.high || BigInt(o.offset) + 1n < r.low;
              }) && 'its offsets are no longer (retention) or not (a recreated topic) in the source topics';
        if (why) {
          this.log.warn({ partition: p, from: meta.instanceId, why }, 'cluster: handed-over state not used; replaying the partition');
          continue;
        }
        const adopted = await this.adopt(p, stores, meta.offsets.map((o) => ({ topic: o.topic, offset: BigInt(o.offset) })), meta.watermarks, meta.dedup ?? [], () => still(p));
        if (adopted === 'closed') return;
        if (adopted) {
          this.loadedFromHandover++;
          this.metrics.clusterHandoverLoaded.inc();
          this.log.info({ partition: p, from: meta.instanceId, writtenAt: new Date(meta.createdAt).toISOString(), offsets: meta.offsets, bytes: buf.length }, 'cluster: partition loaded from the state its last owner handed over; reading on from its offsets');
        }
      }
    } catch (err) {
      this.log.warn({ partitions, error: String(err) }, 'cluster: could not read handed-over states; replaying the partitions');
    } finally {
      for (const p of partitions) if ((this.handovers.get(p) ?? 0) === generation.get(p)) this.loading.delete(p);
      // A loaded partition may have nothing more to read: no batch would say it is caught up.
      this.checkCaughtUp();
      this.checkRestored();
    }
  }

  /**
   * Makes `stores` (one partition's state, at `offsets`: the last applied per source topic) the
   * state of partition p here, inside the IngestGate, and reads on after the offsets; false
   * when `still()` says the partition went elsewhere meanwhile, 'closed' at shutdown.
   */
  private async adopt(p: number, stores: StoreSet, offsets: readonly { topic: string; offset: bigint }[], watermarks: readonly { source: string; ts: number }[], dedup: readonly DedupEntry[], still: () => boolean): Promise<boolean | 'closed'> {
    if (!(await this.gate.enter())) return 'closed';
    try {
      if (!still()) return false;
      absorbStores(this.processor.state(), stores);
      for (const { topic, offset } of offsets) {
        this.applied.set(tpKey(topic, p), { topic, partition: p, offset });
        this.expected.set(tpKey(topic, p), offset + 1n);
        this.consumer?.seek({ topic, partition: p, offset: (offset + 1n).toString() });
      }
      for (const w of watermarks) this.processor.watermarks.restore(w.source, p, w.ts);
      this.processor.dedup.load(p, dedup);
      return true;
    } finally {
      this.gate.leave();
    }
  }

  /** Promotes the warm copies of `partitions` (standby replicas) to the state of this member's new partitions. */
  private async promote(partitions: number[], copies: Map<number, WarmCopy>): Promise<void> {
    const generation = new Map(partitions.map((p) => [p, this.handovers.get(p) ?? 0]));
    try {
      // What the copies' messages route elsewhere is sent before they become this member's state.
      await this.options.standby?.flushed();
      for (const p of partitions) {
        const copy = copies.get(p)!;
        const offsets = [...copy.offsets].map(([topic, offset]) => ({ topic, offset }));
        const adopted = await this.adopt(p, copy.stores, offsets, copy.watermarks, copy.dedup, () => this.loading.has(p) && (this.handovers.get(p) ?? 0) === generation.get(p));
        if (adopted === 'closed') return;
        if (adopted) {
          this.metrics.clusterStandbyPromoted.inc();
          this.log.info({ partition: p, offsets: offsets.map((o) => ({ topic: o.topic, offset: o.offset.toString() })) }, 'cluster: standby copy of the partition promoted; reading on from its offsets');
        }
      }
    } finally {
      for (const p of partitions) if ((this.handovers.get(p) ?? 0) === generation.get(p)) this.loading.delete(p);
      this.checkCaughtUp();
      this.checkRestored();
    }
  }

  /**
   * Writes the state of every partition served here to the state topic for their next owner,
   * with ingest held meanwhile so state and offsets agree: at a graceful stop, and every
   * TALLY_STATE_INTERVAL (so the owners after a crash replay only what came since). Not while
   * refused events are still owed to a DLQ (their offsets must be read again). Resolves with
   * the partitions written.
   */
  async writeStates(reason: 'stop' | 'interval'): Promise<number[]> {
    if (!this.options.cluster?.enabled || this.options.handover === undefined || !this.running) return [];
    const cluster = this.options.cluster;
    const handover = this.options.handover;
    const resume = reason === 'interval' && !this.pausedByUs;
    this.pause();
    await this.gate.pause();
    try {
      const offsets = this.snapshotOffsets();
      const serving = cluster.serving().partitions.filter((p) => !this.loading.has(p));
      const count = this.partitionCount;
      const watermarks = this.processor.watermarks.states();
      const topic = stateTopicOf(this.options.groupId);
      for (const p of serving) {
        const meta = {
          partition: p,
          offsets: offsets.filter((o) => o.partition === p).map((o) => ({ topic: o.topic, offset: o.offset.toString() })),
          watermarks: watermarks.filter((w) => w.partition === p).map((w) => ({ source: w.source, ts: w.ts })),
          dedup: this.processor.dedup.export(p),
          pipeline: handover.pipelineHash,
          instanceId: cluster.self.instanceId,
          createdAt: this.now(),
        };
        const state = await encodePartition(this.processor.state(), (key) => cluster.partitioner(key, count) === p, meta);
        await writeState(this.producer!, topic, p, `${cluster.self.instanceId}-${meta.createdAt}-${p}`, state);
      }
      if (reason === 'stop') this.log.info({ partitions: serving }, 'cluster: state of every partition served here handed over through the state topic');
      else this.log.debug({ partitions: serving }, 'cluster: state of the partitions served here written to the state topic');
      return serving;
    } finally {
      this.gate.resume();
      if (resume) this.resume();
    }
  }

  /** Learns what the brokers hold for the restoring partitions still without a target. */
  private askRestoreTargets(): void {
    if (this.askingTargets || this.stopped) return;
    this.askingTargets = true;
    this.partitionRanges().then(
      (ranges) => {
        this.askingTargets = false;
        for (const [p, targets] of this.restoring) {
          if (targets !== undefined) continue;
          this.restoring.set(p, new Map(ranges.filter((r) => r.partition === p && r.high > r.low).map((r) => [tpKey(r.topic, r.partition), r.high])));
        }
        this.checkRestored();
      },
      (err: unknown) => {
        this.askingTargets = false;
        this.log.warn({ error: String(err) }, 'cluster: could not read the offsets restoring partitions must reach; trying again');
        setTimeout(() => this.askRestoreTargets(), 1_000).unref();
      },
    );
  }

  /** Ends the restore of partitions applied up to their targets. */
  private checkRestored(): void {
    for (const [p, targets] of this.restoring) {
      if (targets === undefined) continue;
      let done = true;
      for (const [key, target] of targets) if ((this.expected.get(key) ?? 0n) < target) done = false;
      if (!done) continue;
      this.restoring.delete(p);
      this.log.info({ partition: p }, 'cluster: partition restored; answering for it');
    }
    if ([...this.restoring.values()].some((t) => t === undefined)) this.askRestoreTargets();
  }

  /** Partitions being restored here and the messages each still has to apply (undefined while unknown). */
  restoringPartitions(): Map<number, number | undefined> {
    const out = new Map<number, number | undefined>();
    for (const [p, targets] of this.restoring) {
      if (targets === undefined) {
        out.set(p, undefined);
        continue;
      }
      let behind = 0n;
      for (const [key, target] of targets) {
        const next = this.expected.get(key) ?? 0n;
        if (next < target) behind += target - next;
      }
      out.set(p, Number(behind));
    }
    return out;
  }

  /** Stops fetching from every source topic (a batch in progress finishes). */
  pause(): void {
    this.pausedByUs = true;
    this.setPaused(true);
  }

  resume(): void {
    if (this.pausedByUs) this.watchFrom = this.now();
    this.pausedByUs = false;
    this.setPaused(false);
  }

  private setPaused(paused: boolean): void {
    const topics = this.topics().map((topic) => ({ topic }));
    try {
      if (paused) this.consumer?.pause(topics);
      else this.consumer?.resume(topics);
    } catch {
      // No consumer group yet (joining, or the client restarting after a crash): the next
      // GROUP_JOIN applies the state, and the IngestGate keeps batches out meanwhile.
    }
  }

  /** The offset of the last message applied, per partition. */
  appliedOffsets(): AppliedOffset[] {
    return [...this.applied.values()].map((a) => ({ ...a }));
  }

  /**
   * What a snapshot records: appliedOffsets(), unless refused messages the stores have gone
   * past are not in their DLQ yet: then it throws, since a restart from such a snapshot would
   * lose them (see the header).
   */
  snapshotOffsets(): AppliedOffset[] {
    for (const o of this.owed.values()) {
      throw new DlqBacklogError(`${o.records.length} refused messages of ${o.topic}[${o.partition}] are not in ${o.topic}${DLQ_SUFFIX} yet (writing them fails; see the log): no snapshot until they are`);
    }
    return this.appliedOffsets();
  }

  /** Commits `offsets` (last applied) to the consumer group as the next offsets to read; for lag monitoring only. */
  async commit(offsets: readonly AppliedOffset[]): Promise<void> {
    if (!this.consumer || offsets.length === 0) return;
    await this.consumer.commitOffsets(offsets.map((o) => ({ topic: o.topic, partition: o.partition, offset: (o.offset + 1n).toString() })));
  }

  /** Resolves once every partition in `targets` has been applied up to (not including) its offset. */
  caughtUp(targets: readonly { topic: string; partition: number; next: bigint }[]): Promise<void> {
    return new Promise((resolve) => {
      this.catchUp = { targets: new Map(targets.map((t) => [tpKey(t.topic, t.partition), t.next])), resolve };
      this.checkCaughtUp();
    });
  }

  private checkCaughtUp(): void {
    const c = this.catchUp;
    if (c === undefined) return;
    // In a cluster, only the partitions assigned here are caught up with (once assigned).
    const mine = this.options.cluster?.enabled && this.assigned.length > 0 ? new Set(this.assigned) : undefined;
    for (const [k, target] of c.targets) {
      if ((this.expected.get(k) ?? 0n) >= target || (mine !== undefined && !mine.has(k))) c.targets.delete(k);
    }
    if (c.targets.size === 0) {
      this.catchUp = undefined;
      c.resolve();
    }
  }

  async stop(): Promise<void> {
    if (!this.gaveUp) {
      await this.writeStates('stop').catch((err: unknown) => this.log.warn({ error: String(err) }, 'cluster: could not hand the partitions over through the state topic; their next owners replay them'));
    }
    this.running = false;
    this.stopped = true;
    await this.options.standby?.stop().catch(() => undefined);
    clearInterval(this.watch);
    this.degraded = undefined;
    this.metrics.kafkaConnected.set(0);
    await this.consumer?.disconnect();
    await this.producer?.disconnect();
  }

  private async ensureTopics(topics: string[]): Promise<void> {
    const admin = this.kafka.admin();
    await admin.connect();
    try {
      const existing = new Set(await admin.listTopics());
      const wanted = [...topics, ...topics.map((t) => t + DLQ_SUFFIX)].filter((t) => !existing.has(t));
      if (wanted.length > 0) {
        const numPartitions = this.options.partitions;
        const created = await createTopicsIfMissing(admin, wanted.map((topic) => (numPartitions === undefined ? { topic } : { topic, numPartitions })));
        if (created) this.log.info({ topics: wanted, partitions: numPartitions ?? 'broker default' }, 'created missing topics');
      }
      const sources = await metadataOf(admin, topics);
      const counts = sources.map((t) => ({ topic: t.name, partitions: t.partitions.length }));
      this.partitionCount = Math.max(1, ...counts.map((c) => c.partitions));
      if (this.options.cluster?.enabled && counts.some((c) => c.partitions !== counts[0].partitions)) {
        throw new PartitionCountMismatchError(
          `the source topics of a cluster must have the same number of partitions (partition p of each is owned by the same member): ${counts.map((c) => `${c.topic} has ${c.partitions}`).join(', ')}`,
        );
      }
      // The state topic of a cluster's handovers: one partition per partition number.
      if (this.options.cluster?.enabled && this.options.handover !== undefined) {
        const stateTopic = stateTopicOf(this.options.groupId);
        if (!existing.has(stateTopic)) {
          if (await createTopicsIfMissing(admin, [{ topic: stateTopic, numPartitions: this.partitionCount }])) {
            this.log.info({ topic: stateTopic, partitions: this.partitionCount }, 'created the cluster state topic');
          }
          await metadataOf(admin, [stateTopic]);
        }
      }
      // The repartition topic: partition p of it is owned with partition p of the sources.
      const repartition = this.repartitionTopic;
      if (repartition !== undefined) {
        if (!existing.has(repartition)) {
          if (await createTopicsIfMissing(admin, [{ topic: repartition, numPartitions: this.partitionCount }])) {
            this.log.info({ topic: repartition, partitions: this.partitionCount }, 'created the cluster repartition topic');
          }
        }
        const [found] = await metadataOf(admin, [repartition]);
        if (found.partitions.length !== this.partitionCount) {
          throw new PartitionCountMismatchError(`${repartition} has ${found.partitions.length} partitions, the source topics ${this.partitionCount}: they must be the same (delete it while the cluster is stopped; it is created again)`);
        }
      }
      const dlqs = await metadataOf(admin, topics.map((t) => t + DLQ_SUFFIX));
      for (const t of dlqs) this.dlqPartitions.set(t.name, Math.max(1, t.partitions.length));
    } finally {
      await admin.disconnect();
    }
  }

  private async eachBatch({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> {
    this.lastBusyAt = this.now();
    // Paused for a snapshot or a restore, or shut down: leave the batch to be fetched again
    // (after a short wait, in case fetching could not be paused yet).
    // Also while the state this partition had here is still to be dropped (handed over and back).
    if (this.dropping.has(batch.partition) || this.loading.has(batch.partition) || !this.gate.tryEnter()) {
      await new Promise((resolve) => setTimeout(resolve, GATE_RETRY_MS));
      return;
    }
    try {
      await this.applyBatch(batch, resolveOffset, isRunning, isStale);
    } finally {
      this.gate.leave();
      this.lastBusyAt = this.now();
    }
    this.checkCaughtUp();
    if (this.restoring.size > 0) this.checkRestored();
    if (this.recovering !== undefined) this.watchStall();
    await heartbeat();
  }

  private async applyBatch(batch: EachBatchPayload['batch'], resolveOffset: (offset: string) => void, isRunning: () => boolean, isStale: () => boolean): Promise<void> {
    const key = tpKey(batch.topic, batch.partition);
    // Refusals of an earlier try not in the DLQ yet (of any partition, in case this one was
    // assigned elsewhere meanwhile): they go first, or the batch fails again.
    for (const k of [...this.owed.keys()]) await this.writeOwed(k);
    const expected = this.expected.get(key);
    // kafkajs 2.2.4 keeps the offset it fetched from on the batch, untyped.
    const fetched = (batch as unknown as { fetchedOffset?: string }).fetchedOffset ?? batch.firstOffset();
    if (expected !== undefined && fetched !== null && BigInt(fetched) > expected) {
      if (this.soughtBack.get(key) !== expected) {
        // The client is ahead of the state (it started from the group's offsets): go back.
        this.soughtBack.set(key, expected);
        this.log.warn({ topic: batch.topic, partition: batch.partition, fetched, expected: expected.toString() }, 'kafka fetched past the applied offset; seeking back');
        this.consumer?.seek({ topic: batch.topic, partition: batch.partition, offset: expected.toString() });
        return;
      }
      // Sought back and still ahead: the broker no longer holds those offsets.
      this.log.error({ topic: batch.topic, partition: batch.partition, from: expected.toString(), to: fetched }, 'kafka no longer holds these offsets (retention); continuing after the gap');
    }
    const source = this.router.sourceOfTopic(batch.topic);
    const repartitioned = batch.topic === this.repartitionTopic;
    const refused: DlqRecord[] = [];
    let lastOffset: string | undefined;
    // The last message the stores hold, skipped or applied: what the client may move past.
    let done: string | undefined;
    let applied = 0;
    // The next offset to apply: compared (a BigInt parse per message) only until the batch
    // passes it, since offsets within a batch only grow. The offsets applied are recorded at
    // each yield and at the end (also when a message throws), not per message: no other code
    // reads them in between. The refusals recorded past are owed to the DLQ from then on.
    let next = this.expected.get(key);
    let recorded: string | undefined;
    // Handed over while this batch yields (a rebalance): stop, and record nothing of it.
    const handovers = this.handovers.get(batch.partition);
    const handedOver = () => this.handovers.get(batch.partition) !== handovers;
    const record = (): void => {
      if (handedOver()) return;
      if (refused.length > 0) this.owe(key, batch.topic, batch.partition, refused.splice(0));
      if (lastOffset === undefined || lastOffset === recorded) return;
      const offset = BigInt(lastOffset);
      this.applied.set(key, { topic: batch.topic, partition: batch.partition, offset });
      this.expected.set(key, offset + 1n);
      recorded = lastOffset;
    };
    try {
      for (const message of batch.messages) {
        // A fetch may bring thousands of messages: give the event loop a turn between slices so
        // queries are answered meanwhile. The gate stays held (no snapshot in between) and
        // kafkajs hands over the partition's next batch only once this one returns, so the
        // order of messages and the offset bookkeeping are the same as without the yields.
        if (applied > 0 && applied % KAFKA_SLICE === 0) {
          record();
          this.lastBusyAt = this.now();
          await nextTurn();
        }
        if (!isRunning() || isStale() || handedOver()) break;
        if (next !== undefined) {
          // Applied already (the state holds it): skip, never count twice.
          if (BigInt(message.offset) < next) {
            done = message.offset;
            continue;
          }
          next = undefined;
        }
        lastOffset = done = message.offset;
        applied++;
        if (repartitioned) {
          this.applyRepartitioned(message.value, batch.topic, batch.partition, message.offset);
          continue;
        }
        const result = source === undefined
          ? { ok: false as const, reason: 'unknown-source', message: `topic "${batch.topic}" feeds no source` }
          : this.processor.ingestRaw(source, message.value, batch.partition, message.timestamp, batch.topic, message.offset);
        if (!result.ok) {
          const bytes = (message.key?.length ?? 0) + (message.value?.length ?? 0);
          const copy = bytes <= MAX_DLQ_COPY_BYTES;
          refused.push({
            offset: message.offset,
            key: copy ? message.key : null,
            value: copy ? message.value : null,
            headers: {
              [DLQ_HEADERS.reason]: result.reason,
              [DLQ_HEADERS.error]: result.message,
              [DLQ_HEADERS.source]: source ?? '',
              [DLQ_HEADERS.topic]: batch.topic,
              [DLQ_HEADERS.partition]: String(batch.partition),
              [DLQ_HEADERS.offset]: message.offset,
              ...(copy ? {} : { [DLQ_HEADERS.omitted]: String(bytes) }),
            },
          });
        }
      }
    } finally {
      // What the applied messages route elsewhere is sent before their offsets count (a state
      // written later covers them); sent even when the batch stopped part-way.
      const outgoing = this.processor.repartitioner?.drain() ?? [];
      if (outgoing.length > 0) await this.sendRepartitioned(outgoing);
      record();
    }
    // Throws when the write fails: the batch is fetched again, its refusals written first.
    await this.writeOwed(key);
    // Offsets are resolved only for what was processed and its refusals written, and for what
    // was skipped (so a batch fetched again after a failure is not fetched once more).
    if (done !== undefined) resolveOffset(done);
    const lag = Number(batch.offsetLag());
    this.metrics.consumerLag.set({ topic: batch.topic, partition: String(batch.partition) }, lag);
    this.lag.set(key, { partition: batch.partition, lag });
  }

  /** One record of the repartition topic; one that cannot be applied is logged and counted, never stops the partition. */
  private applyRepartitioned(value: Buffer | null, topic: string, partition: number, offset: string): void {
    try {
      this.processor.applyRepartitioned(value, topic, partition, offset);
    } catch (err) {
      this.metrics.internalErrors.inc({ where: 'repartition' });
      this.log.error({ topic, partition, offset, error: err instanceof Error ? err.message : String(err) }, 'repartition record could not be applied; skipped');
    }
  }

  /**
   * Reads the cluster map from the group (describeGroup) until the group is stable, and hands
   * it to the ClusterState; a newer read wins over an older one still under way.
   */
  private async readMap(): Promise<void> {
    const cluster = this.options.cluster;
    const consumer = this.consumer;
    if (cluster === undefined || consumer === undefined) return;
    const read = ++this.mapReads;
    for (let i = 0; i < MAP_TRIES && !this.stopped && read === this.mapReads; i++) {
      try {
        const found = mapFromGroup(await consumer.describeGroup(), this.partitionCount);
        if (found !== undefined && read === this.mapReads) {
          if (found.map.epoch >= cluster.map.epoch) {
            cluster.knowledge = found.knowledge;
            cluster.update(found.map);
            this.metrics.clusterEpoch.set(found.map.epoch);
            this.log.info({ epoch: found.map.epoch, members: found.map.members.map((m) => ({ id: m.instanceId, partitions: m.partitions.length })) }, 'cluster map');
          }
          return;
        }
      } catch (err) {
        this.log.warn({ error: String(err) }, 'could not read the cluster map; trying again');
      }
      await new Promise((resolve) => setTimeout(resolve, MAP_RETRY_MS));
    }
  }

  private owe(key: string, topic: string, partition: number, records: DlqRecord[]): void {
    const owed = this.owed.get(key);
    if (owed === undefined) this.owed.set(key, { topic, partition, records });
    else owed.records.push(...records);
  }

  /**
   * Writes the refusals owed for a partition to its DLQ, in offset order, in writes of at most
   * MAX_DLQ_COPY_BYTES to one DLQ partition (each all or nothing); each written record is owed
   * no more. A failed write is counted and logged and throws DlqWriteError.
   */
  private async writeOwed(key: string): Promise<void> {
    const owed = this.owed.get(key);
    if (owed === undefined) return;
    const topic = owed.topic + DLQ_SUFFIX;
    const partition = owed.partition % (this.dlqPartitions.get(topic) ?? 1);
    while (owed.records.length > 0) {
      let n = 0;
      for (let bytes = 0; n < owed.records.length; n++) {
        bytes += recordBytes(owed.records[n]!);
        if (n > 0 && bytes > MAX_DLQ_COPY_BYTES) break;
      }
      const chunk = owed.records.slice(0, n);
      try {
        await this.producer!.send({ topic, messages: chunk.map((r) => ({ key: r.key, value: r.value, headers: r.headers, partition })) });
      } catch (err) {
        this.metrics.dlqWriteFailures.inc({ topic: owed.topic });
        this.log.error(
          { topic: owed.topic, partition: owed.partition, dlq: topic, owed: owed.records.length, fromOffset: owed.records[0]!.offset, error: String(err) },
          'could not write refused events to the DLQ: the batch is fetched again and they are written first; no snapshot until then',
        );
        throw new DlqWriteError(`writing ${owed.records.length} refused messages of ${owed.topic}[${owed.partition}] to ${topic} failed: ${String(err)}`, { cause: err });
      }
      owed.records.splice(0, n);
      this.metrics.dlqWritten.inc({ topic: owed.topic }, n);
    }
    this.owed.delete(key);
  }

  private kafkaLog(entry: LogEntry): void {
    const { message, ...rest } = entry.log;
    const fields = { component: 'kafkajs', namespace: entry.namespace, ...rest };
    if (entry.level === logLevel.ERROR) this.log.error(fields, message);
    else if (entry.level === logLevel.WARN) this.log.warn(fields, message);
    else this.log.debug(fields, message);
  }
}

function tpKey(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`;
}

/** How long a topic another member just created may take to show with a leader per partition. */
const TOPIC_VISIBLE_MS = 30_000;
const TOPIC_RETRY_MS = 200;

/**
 * The metadata of `topics`, once each is known to the broker with a leader for every
 * partition: a topic created a moment ago by another member (starting at the same time) is
 * unknown to this one's broker connection for a while. Fails after `withinMs` naming them.
 */
export async function metadataOf(admin: ReturnType<Kafka['admin']>, topics: string[], withinMs = TOPIC_VISIBLE_MS): Promise<{ name: string; partitions: { partitionId: number; leader: number }[] }[]> {
  const started = Date.now();
  for (;;) {
    let reason: string;
    try {
      const { topics: found } = await admin.fetchTopicMetadata({ topics });
      const leaderless = found.filter((t) => t.partitions.length === 0 || t.partitions.some((p) => p.leader < 0));
      if (leaderless.length === 0) return found;
      reason = `no leader yet for ${leaderless.map((t) => t.name).join(', ')}`;
    } catch (err) {
      const type = (err as { type?: string }).type;
      if (type !== 'UNKNOWN_TOPIC_OR_PARTITION' && type !== 'LEADER_NOT_AVAILABLE') throw err;
      reason = String(err);
    }
    if (Date.now() - started > withinMs) throw new Error(`topics ${topics.join(', ')} not available within ${withinMs / 1000} s: ${reason}`);
    await new Promise((r) => setTimeout(r, TOPIC_RETRY_MS));
  }
}

/**
 * Creates the topics not there yet and waits until each has a leader per partition; true when
 * this call created them. Members starting together race to create them: kafkajs answers false,
 * not an error, when another did first. The leaders are waited for by metadataOf, not by
 * kafkajs (whose wait fails at once on a topic its broker does not know yet).
 */
export async function createTopicsIfMissing(admin: ReturnType<Kafka['admin']>, topics: { topic: string; numPartitions?: number }[]): Promise<boolean> {
  const created = await admin.createTopics({ topics, waitForLeaders: false });
  await metadataOf(admin, topics.map((t) => t.topic));
  return created;
}

/**
 * A topic's earliest and next offsets per partition. A topic another member created a moment
 * ago may still be moving to its leader ("not the leader for that topic-partition"): such
 * retriable answers are asked again, for up to TOPIC_VISIBLE_MS.
 */
export async function topicOffsets(admin: ReturnType<Kafka['admin']>, topic: string, withinMs = TOPIC_VISIBLE_MS): Promise<{ partition: number; low: string; high: string }[]> {
  const started = Date.now();
  for (;;) {
    try {
      return await admin.fetchTopicOffsets(topic);
    } catch (err) {
      const retriable = (err as { retriable?: boolean }).retriable === true || ['NOT_LEADER_FOR_PARTITION', 'LEADER_NOT_AVAILABLE', 'UNKNOWN_TOPIC_OR_PARTITION'].includes((err as { type?: string }).type ?? '');
      if (!retriable || Date.now() - started > withinMs) throw err;
      await new Promise((r) => setTimeout(r, TOPIC_RETRY_MS));
    }
  }
}

/** The partition number of a tpKey. */
function partitionOfKey(key: string): number {
  return Number(key.slice(key.lastIndexOf('\u0000') + 1));
}

/** About what a DLQ record takes in a write: key, value and headers. */
function recordBytes(r: DlqRecord): number {
  let n = (r.key?.length ?? 0) + (r.value?.length ?? 0);
  for (const k in r.headers) n += k.length + Buffer.byteLength(r.headers[k]!);
  return n;
}

/**
 * Writes JSON events to Kafka topics, keyed (by entity) so one entity's events stay in one
 * partition, in order. For producers inside this repository — the demo generator and tools
 * — so kafkajs stays behind this file. Connects on the first send.
 */
export class KafkaEventWriter {
  private readonly producer: Producer;
  private connecting: Promise<void> | undefined;

  /**
   * `idempotent`: the broker drops a batch the producer retried after it was in fact written
   * (kafkajs idempotent producer, one request in flight), so a retry never writes an event twice.
   */
  constructor(brokers: string[], clientId = 'tally-writer', options: { idempotent?: boolean } = {}) {
    // quiet: a failed write rejects send(), and the caller reports it
    const kafka = new Kafka({ clientId, brokers, logLevel: logLevel.NOTHING, retry: { retries: 8 } });
    this.producer = kafka.producer({
      allowAutoTopicCreation: true,
      createPartitioner: Partitioners.DefaultPartitioner,
      ...(options.idempotent ? { idempotent: true, maxInFlightRequests: 1 } : {}),
    });
  }

  async send(topic: string, messages: readonly { key: string; value: unknown }[]): Promise<void> {
    await this.sendEncoded(topic, messages.map((m) => ({ key: m.key, value: JSON.stringify(m.value) })));
  }

  /** send() for values already encoded as JSON text. */
  async sendEncoded(topic: string, messages: readonly { key: string; value: string }[]): Promise<void> {
    await (this.connecting ??= this.producer.connect());
    // acks -1: answered once every in-sync replica has the messages
    await this.producer.send({ topic, acks: -1, messages: messages.map((m) => ({ key: m.key, value: m.value })) });
  }

  async close(): Promise<void> {
    if (this.connecting) await this.producer.disconnect();
  }
}

/** One message of a history read: where it sits and what it holds. */
export interface HistoryMessage {
  topic: string;
  partition: number;
  offset: bigint;
  value: Buffer | null;
  /** The message timestamp as kafkajs gives it. */
  timestamp: string;
}

/**
 * Reads topics from their earliest kept offset up to the offset each partition had when the
 * read started (later messages are left alone), each partition in order, under a consumer
 * group of its own: for tools that rebuild what the events say (tally export). `onMessage` is
 * called for every message; `progress` with the number read so far of `total`.
 */
export async function readKafkaHistory(
  brokers: string[],
  topics: readonly string[],
  onMessage: (m: HistoryMessage) => void,
  progress: (read: number, total: number) => void = () => undefined,
): Promise<{ ranges: PartitionRange[]; read: number }> {
  const kafka = new Kafka({ clientId: 'tally-history', brokers, logLevel: logLevel.NOTHING, retry: { retries: 8 } });
  const admin = kafka.admin();
  await admin.connect();
  const ranges: PartitionRange[] = [];
  try {
    for (const topic of topics) {
      for (const p of await topicOffsets(admin, topic)) ranges.push({ topic, partition: p.partition, low: BigInt(p.low), high: BigInt(p.high) });
    }
  } finally {
    await admin.disconnect();
  }
  const total = ranges.reduce((n, r) => n + Number(r.high - r.low), 0);
  const pending = new Map(ranges.filter((r) => r.high > r.low).map((r) => [tpKey(r.topic, r.partition), r.high]));
  let read = 0;
  progress(0, total);
  if (pending.size === 0) return { ranges, read };
  const consumer = kafka.consumer({ groupId: `tally-history-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`, allowAutoTopicCreation: false });
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [...new Set(ranges.map((r) => r.topic))], fromBeginning: true });
    await new Promise<void>((done, fail) => {
      consumer
        .run({
          autoCommit: false,
          eachBatch: async ({ batch }) => {
            const key = tpKey(batch.topic, batch.partition);
            const high = pending.get(key);
            if (high === undefined) return;
            for (const m of batch.messages) {
              const offset = BigInt(m.offset);
              if (offset >= high) break;
              onMessage({ topic: batch.topic, partition: batch.partition, offset, value: m.value, timestamp: m.timestamp });
              read++;
              if (offset + 1n >= high) pending.delete(key);
            }
            // Offsets that hold no message (transaction markers) end a partition too.
            if (batch.messages.length > 0 && BigInt(batch.lastOffset()) + 1n >= high) pending.delete(key);
            progress(read, total);
            if (pending.size === 0) done();
          },
        })
        .catch(fail);
    });
  } finally {
    await consumer.disconnect();
  }
  return { ranges, read };
}
