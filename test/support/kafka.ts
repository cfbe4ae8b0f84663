// Kafka helpers for e2e suites. The broker is started once per run by the e2e global setup
// (test/support/global-setup.ts) unless KAFKA_BROKERS is set.
import { ConfigResourceTypes, ConfigSource, Kafka, logLevel, Partitioners, type IHeaders, type LogEntry, type RecordMetadata } from 'kafkajs';

/** Set by the global setup when no broker could be started outside CI; holds the reason. */
export const KAFKA_UNAVAILABLE_ENV = 'TALLY_TEST_KAFKA_UNAVAILABLE';

/**
 * The bootstrap servers of the test broker. Throws an Error carrying the plain reason when
 * there is none, so a Kafka suite fails loudly with the explanation while other suites run.
 */
export function requireKafka(): string {
  const unavailable = process.env[KAFKA_UNAVAILABLE_ENV];
  if (unavailable) throw new Error(unavailable);
  const brokers = process.env.KAFKA_BROKERS?.trim();
  if (!brokers) {
    throw new Error(
      'No Kafka broker for this test: KAFKA_BROKERS is not set and the e2e global setup did not start one ' +
        '(run the suite through the e2e jest project, or start one with `npm run kafka` and export KAFKA_BROKERS).',
    );
  }
  return brokers;
}

export interface TopicSpec {
  topic: string;
  numPartitions: number;
  /** Topic-level configs, e.g. `{ 'max.message.bytes': '16777216' }`. */
  config?: Record<string, string>;
}

export interface OutgoingMessage {
  key?: string | Buffer | null;
  value: string | Buffer | null;
  partition?: number;
  headers?: Record<string, string | Buffer>;
}

export interface ConsumedMessage {
  topic: string;
  partition: number;
  offset: string;
  timestamp: string;
  key: string | null;
  value: string | null;
  /** header values decoded as UTF-8; for a key repeated on one message, the last value */
  headers: Record<string, string>;
}

let counter = 0;

/** A topic/group name unique per run and per call, e.g. `orders-m5x2k1-4711-1-a3f`. */
export function uniqueName(prefix: string): string {
  const clean = prefix.replace(/[^a-zA-Z0-9._-]/g, '-');
  counter += 1;
  const rand = Math.random().toString(36).slice(2, 6);
  return `${clean}-${Date.now().toString(36)}-${process.pid}-${counter}-${rand}`;
}

function client(brokers: string, clientId: string, errors?: string[]): Kafka {
  return new Kafka({
    clientId,
    brokers: brokers.split(',').map((b) => b.trim()).filter(Boolean),
    // Errors surface as rejections; keep the consumer's internal errors for timeout messages.
    logLevel: errors ? logLevel.ERROR : logLevel.NOTHING,
    logCreator: () => (entry: LogEntry) => {
      if (errors && entry.level <= logLevel.ERROR) {
        errors.push(`${entry.log.message}${entry.log.error ? `: ${String(entry.log.error)}` : ''}`);
        if (errors.length > 20) errors.shift();
      }
    },
  });
}

/** Creates the topics (replication factor 1) and waits for their leaders. Existing topics are left as they are. */
export async function createTopics(brokers: string, topics: TopicSpec[]): Promise<void> {
  const admin = client(brokers, 'tally-test-admin').admin();
  await admin.connect();
  try {
    await admin.createTopics({
      waitForLeaders: true,
      topics: topics.map((t) => ({
        topic: t.topic,
        numPartitions: t.numPartitions,
        replicationFactor: 1,
        configEntries: Object.entries(t.config ?? {}).map(([name, value]) => ({ name, value })),
      })),
    });
    await admin.fetchTopicMetadata({ topics: topics.map((t) => t.topic) });
  } finally {
    await admin.disconnect();
  }
}

/** Sets topic-level configs of an existing topic, e.g. `{ 'max.message.bytes': '1048588' }` (the others keep their values). */
export async function alterTopicConfig(brokers: string, topic: string, config: Record<string, string>): Promise<void> {
  const admin = client(brokers, 'tally-test-admin').admin();
  await admin.connect();
  try {
    const described = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: topic }] });
    // AlterConfigs replaces the topic's whole dynamic config: carry the other set values over.
    const current = Object.fromEntries(
      (described.resources[0]?.configEntries ?? []).filter((e) => !e.isDefault && !e.readOnly && e.configSource === ConfigSource.TOPIC_CONFIG).map((e) => [e.configName, e.configValue]),
    );
    await admin.alterConfigs({
      validateOnly: false,
      resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configEntries: Object.entries({ ...current, ...config }).map(([name, value]) => ({ name, value })) }],
    });
  } finally {
    await admin.disconnect();
  }
}

/** The next offset to be written of each partition of `topic`, by partition. */
export async function topicEnds(brokers: string, topic: string): Promise<number[]> {
  const admin = client(brokers, 'tally-test-admin').admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    return offsets.sort((a, b) => a.partition - b.partition).map((o) => Number(o.high));
  } finally {
    await admin.disconnect();
  }
}

/** Produces the messages (acks from all in-sync replicas) and returns the brokers' answers. */
export async function produce(brokers: string, topic: string, messages: OutgoingMessage[]): Promise<RecordMetadata[]> {
  const producer = client(brokers, 'tally-test-producer').producer({
    createPartitioner: Partitioners.DefaultPartitioner,
    allowAutoTopicCreation: true,
  });
  await producer.connect();
  try {
    return await producer.send({
      topic,
      acks: -1,
      messages: messages.map((m) => ({
        key: m.key ?? null,
        value: m.value,
        ...(m.partition !== undefined ? { partition: m.partition } : {}),
        ...(m.headers ? { headers: m.headers } : {}),
      })),
    });
  } finally {
    await producer.disconnect();
  }
}

function decodeHeaders(headers: IHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers ?? {})) {
    if (v === undefined) continue;
    const last = Array.isArray(v) ? v[v.length - 1] : v;
    if (last !== undefined) out[k] = last.toString();
  }
  return out;
}

/**
 * Reads a topic from the beginning with a fresh consumer group until `expected` messages
 * have arrived (then returns them, ordered by partition and offset), or rejects after
 * `timeoutMs` (default 30 s) saying how many arrived.
 */
export async function consumeAll(
  brokers: string,
  topic: string,
  opts: { expected: number; timeoutMs?: number; groupId?: string },
): Promise<ConsumedMessage[]> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const errors: string[] = [];
  const consumer = client(brokers, 'tally-test-consumer', errors).consumer({
    groupId: opts.groupId ?? uniqueName('tally-test-group'),
    allowAutoTopicCreation: false,
  });
  const got: ConsumedMessage[] = [];
  try {
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(
          new Error(
            `consumeAll(${topic}): got ${got.length} of ${opts.expected} expected messages within ${timeoutMs} ms` +
              (errors.length ? `; client errors: ${errors.slice(-5).join(' | ')}` : ''),
          ),
        );
      }, timeoutMs);
      const check = () => {
        if (got.length >= opts.expected) {
          clearTimeout(timer);
          resolve();
        }
      };
      check();
      consumer
        .run({
          eachMessage: async ({ topic: t, partition, message }) => {
            got.push({
              topic: t,
              partition,
              offset: message.offset,
              timestamp: message.timestamp,
              key: message.key ? message.key.toString() : null,
              value: message.value ? message.value.toString() : null,
              headers: decodeHeaders(message.headers),
            });
            check();
          },
        })
        .catch((err: unknown) => {
          clearTimeout(timer);
          reject(err instanceof Error ? err : new Error(String(err)));
        });
    });
  } finally {
    await consumer.disconnect().catch(() => undefined);
  }
  return got.sort((a, b) => a.partition - b.partition || Number(BigInt(a.offset) - BigInt(b.offset)));
}
