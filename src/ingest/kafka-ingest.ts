/**
 * Kafka ingest: one consumer group over every source topic, `eachBatch` with explicit
 * `resolveOffset` + `heartbeat` (kafkajs docs/Consuming.md), and a producer for the dead
 * letter topics (`<topic>.dlq`). The only file that imports kafkajs, so the client can be
 * swapped without touching the rest.
 *
 * A batch is applied message by message; refused messages are written to the DLQ with their
 * reason, source topic, partition and offset in headers, and only after that write succeeds
 * are the batch's offsets resolved — a crash in between re-reads the batch rather than lose
 * a refused event.
 */
import { Kafka, logLevel, Partitioners, type Consumer, type EachBatchPayload, type LogEntry, type Producer } from 'kafkajs';
import type { Logger } from '../ops/logger.js';
import type { Metrics } from '../ops/metrics.js';
import type { EventProcessor } from './event-processor.js';
import type { Router } from './router.js';

export interface KafkaIngestOptions {
  brokers: string[];
  groupId: string;
  clientId?: string;
  /** Read a new group's partitions from the earliest offset (default) or only new messages. */
  fromBeginning?: boolean;
}

export const DLQ_SUFFIX = '.dlq';

export const DLQ_HEADERS = {
  reason: 'tally-reason',
  error: 'tally-error',
  source: 'tally-source',
  topic: 'tally-source-topic',
  partition: 'tally-source-partition',
  offset: 'tally-source-offset',
} as const;

export class KafkaIngest {
  private readonly kafka: Kafka;
  private consumer: Consumer | undefined;
  private producer: Producer | undefined;
  private running = false;

  constructor(
    private readonly options: KafkaIngestOptions,
    private readonly router: Router,
    private readonly processor: EventProcessor,
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {
    this.kafka = new Kafka({
      clientId: options.clientId ?? 'tally',
      brokers: options.brokers,
      logLevel: logLevel.WARN,
      logCreator: () => (entry: LogEntry) => this.kafkaLog(entry),
      retry: { retries: 8 },
    });
  }

  get connected(): boolean {
    return this.running;
  }

  /** Creates missing source topics, joins the group and starts consuming. */
  async start(): Promise<void> {
    const topics = this.router.kafkaTopics();
    await this.ensureTopics(topics);
    this.producer = this.kafka.producer({ allowAutoTopicCreation: true, createPartitioner: Partitioners.DefaultPartitioner });
    await this.producer.connect();
    this.consumer = this.kafka.consumer({ groupId: this.options.groupId, maxWaitTimeInMs: 100, sessionTimeout: 30_000, heartbeatInterval: 3_000 });
    this.consumer.on(this.consumer.events.CRASH, (e) => {
      this.running = false;
      this.metrics.kafkaConnected.set(0);
      this.log.error({ error: String(e.payload.error), restart: e.payload.restart }, 'kafka consumer crashed');
    });
    this.consumer.on(this.consumer.events.GROUP_JOIN, (e) => {
      this.running = true;
      this.metrics.kafkaConnected.set(1);
      this.log.info({ memberAssignment: e.payload.memberAssignment }, 'joined consumer group');
    });
    await this.consumer.connect();
    await this.consumer.subscribe({ topics, fromBeginning: this.options.fromBeginning ?? true });
    await this.consumer.run({ eachBatchAutoResolve: false, autoCommit: true, eachBatch: (p) => this.eachBatch(p) });
    this.running = true;
    this.metrics.kafkaConnected.set(1);
    this.log.info({ brokers: this.options.brokers, groupId: this.options.groupId, topics }, 'kafka ingest started');
  }

  async stop(): Promise<void> {
    this.running = false;
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
        await admin.createTopics({ topics: wanted.map((topic) => ({ topic })), waitForLeaders: true });
        this.log.info({ topics: wanted }, 'created missing topics');
      }
    } finally {
      await admin.disconnect();
    }
  }

  private async eachBatch({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> {
    const source = this.router.sourceOfTopic(batch.topic);
    const dlq: { key: Buffer | null; value: Buffer | null; headers: Record<string, string> }[] = [];
    let lastOffset: string | undefined;
    for (const message of batch.messages) {
      if (!isRunning() || isStale()) break;
      lastOffset = message.offset;
      const result = source === undefined
        ? { ok: false as const, reason: 'unknown-source', message: `topic "${batch.topic}" feeds no source` }
        : this.processor.ingestRaw(source, message.value, batch.partition, Number(message.timestamp));
      if (!result.ok) {
        dlq.push({
          key: message.key,
          value: message.value,
          headers: {
            [DLQ_HEADERS.reason]: result.reason,
            [DLQ_HEADERS.error]: result.message,
            [DLQ_HEADERS.source]: source ?? '',
            [DLQ_HEADERS.topic]: batch.topic,
            [DLQ_HEADERS.partition]: String(batch.partition),
            [DLQ_HEADERS.offset]: message.offset,
          },
        });
      }
    }
    if (dlq.length > 0) {
      await this.producer!.send({ topic: batch.topic + DLQ_SUFFIX, messages: dlq });
      this.metrics.dlqWritten.inc({ topic: batch.topic }, dlq.length);
    }
    // Offsets are resolved only for what was processed (and its refusals written).
    if (lastOffset !== undefined) resolveOffset(lastOffset);
    this.metrics.consumerLag.set({ topic: batch.topic, partition: String(batch.partition) }, Number(batch.offsetLag()));
    await heartbeat();
  }

  private kafkaLog(entry: LogEntry): void {
    const { message, ...rest } = entry.log;
    const fields = { component: 'kafkajs', namespace: entry.namespace, ...rest };
    if (entry.level === logLevel.ERROR) this.log.error(fields, message);
    else if (entry.level === logLevel.WARN) this.log.warn(fields, message);
    else this.log.debug(fields, message);
  }
}
