/**
 * The served-feature log: every onlineFeatures answer asked to be logged, as one JSON record
 * (request id, time, entities, feature names, values, freshness), the "log and wait" training
 * data of feature stores. Records are buffered and written in batches off the request path
 * (every FLUSH_MS or FLUSH_RECORDS): with Kafka to TALLY_SERVED_TOPIC (keyed by request id),
 * in embedded mode appended to `<TALLY_DATA_DIR>/served/served.ndjson`. A write that fails is
 * counted and logged; the buffer is bounded, so a sink that is down cannot grow memory (the
 * records past MAX_BUFFERED are dropped and counted).
 */
import { randomUUID } from 'node:crypto';
import { appendFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import type { OnlineRow } from '../../features/index.js';
import { KafkaEventWriter } from '../../ingest/kafka-ingest.js';
import { InputError } from '../../input-error.js';
import type { Logger } from '../../ops/logger.js';
import { Metrics } from '../../ops/metrics.js';
import type { Settings } from '../../settings/settings.js';
import { LOGGER, SETTINGS } from '../../settings/tokens.js';

/**
 * Write at least this often, so a record reaches the log within about this long. Short, so
 * that buffered records die young: held across several scavenges they were promoted to the old
 * generation, whose growth then cost a major GC pause of the whole heap (p99 of ~900 ms at
 * 1,000 req/s in the serving bench).
 */
const FLUSH_MS = 50;
/** ... or as soon as this many records wait. */
const FLUSH_RECORDS = 1_000;
/** Records held while the sink is slow or down; beyond it records are dropped (counted). */
const MAX_BUFFERED = 100_000;

export interface ServedRecord {
  requestId: string;
  at: string;
  entities: string[];
  features: string[];
  values: unknown[][];
  freshness: (string | null)[][];
}

/** A record as written: its request id (the Kafka key) and its JSON text. */
interface Encoded {
  key: string;
  json: string;
}

type Sink = (records: Encoded[]) => Promise<void>;

@Injectable()
export class ServedLog implements OnModuleDestroy {
  private readonly sink: Sink | undefined;
  private readonly close: () => Promise<void> = async () => undefined;
  private buffer: Encoded[] = [];
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();
  /** True when every answer is logged (TALLY_SERVED_LOG=1). */
  readonly always: boolean;

  constructor(
    @Inject(SETTINGS) settings: Settings,
    @Inject(Metrics) private readonly metrics: Metrics,
    @Inject(LOGGER) private readonly log: Logger,
  ) {
    this.always = settings.servedLog.always;
    if (settings.kafkaBrokers.length > 0) {
      const writer = new KafkaEventWriter(settings.kafkaBrokers, 'tally-served-log');
      const topic = settings.servedLog.topic;
      this.sink = (records) => writer.sendEncoded(topic, records.map((r) => ({ key: r.key, value: r.json })));
      this.close = () => writer.close();
    } else if (settings.dataDir !== undefined) {
      const dir = join(settings.dataDir, 'served');
      const file = join(dir, 'served.ndjson');
      this.sink = async (records) => {
        await mkdir(dir, { recursive: true });
        await appendFile(file, records.map((r) => `${r.json}\n`).join(''));
      };
    }
  }

  /**
   * Logs one answer and returns its request id. Throws InputError when there is nowhere to
   * write (embedded mode without TALLY_DATA_DIR).
   */
  record(rows: readonly OnlineRow[], features: readonly string[], now: number): string {
    if (this.sink === undefined) throw new InputError('the served-feature log needs Kafka (KAFKA_BROKERS) or TALLY_DATA_DIR to write to');
    const requestId = randomUUID();
    if (this.buffer.length >= MAX_BUFFERED) {
      this.metrics.servedLogDropped.inc();
      return requestId;
    }
    // Encoded now: the buffer holds one string per record, not the answer's object graph.
    const record: ServedRecord = {
      requestId,
      at: new Date(now).toISOString(),
      entities: rows.map((r) => r.entity),
      features: features as string[],
      values: rows.map((r) => r.values),
      freshness: rows.map((r) => r.freshness.map((t) => (t === null ? null : new Date(t).toISOString()))),
    };
    this.buffer.push({ key: requestId, json: JSON.stringify(record) });
    if (this.buffer.length >= FLUSH_RECORDS) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), FLUSH_MS);
    return requestId;
  }

  /** Writes what is buffered; resolves once it is written (or failed, counted and logged). */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const records = this.buffer;
    if (records.length === 0 || this.sink === undefined) return this.writing;
    this.buffer = [];
    const sink = this.sink;
    this.writing = this.writing.then(async () => {
      try {
        await sink(records);
        this.metrics.servedLogged.inc(records.length);
      } catch (err) {
        this.metrics.servedLogDropped.inc(records.length);
        this.log.error({ records: records.length, error: err instanceof Error ? err.message : String(err) }, 'served-feature log write failed; records dropped');
      }
    });
    return this.writing;
  }

  async onModuleDestroy(): Promise<void> {
    await this.flush();
    await this.close();
  }
}
