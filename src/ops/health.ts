/** What `/health`, `/readyz` and `/livez` report; components fill in their part when they start. */
export interface HealthReport {
  /**
   * `ok` serving; `degraded` serving, but Kafka cannot be read (or is being caught up with
   * after an outage): answers are stale, `reason` says why; `starting` and `restoring` not
   * serving yet (see `restore`).
   */
  status: 'ok' | 'degraded' | 'starting' | 'restoring';
  /** Why Kafka is not read as it should be (with `degraded`, or while restoring). */
  reason?: string;
  mode: 'kafka' | 'embedded';
  kafka?: KafkaReport;
  /** Recovery at start-up (src/durability): where it is, from which snapshot, what was replayed. */
  restore?: RestoreReport;
  uptimeSeconds: number;
}

export interface KafkaReport {
  /** False while the consumer cannot fetch (longer than TALLY_KAFKA_STALL_MS) or is stopped. */
  connected: boolean;
  brokers: string[];
  groupId: string;
  /** When the consumer last received a fetch response (ISO 8601); null before the first. */
  lastFetchAt: string | null;
}

/** Why Kafka is not read as it should be, as Kafka ingest says (src/ingest/kafka-ingest.ts). */
export interface Degradation {
  reason: string;
  /** ISO 8601 time of the last fetch response; null before the first. */
  lastFetchAt: string | null;
}

/** What GraphQL answers carry under `extensions` while they may be out of date. */
export interface StaleExtensions {
  stale: true;
  /** With Kafka degraded: when the consumer last received a fetch response. */
  lastFetchAt?: string | null;
}

const STALE: StaleExtensions = Object.freeze({ stale: true });

export interface RestoreReport {
  /** loading the snapshot, replaying the ingest log, catching up with Kafka, done; refused/failed say why in `reason`. */
  state: 'loading' | 'replaying' | 'catching-up' | 'done' | 'refused' | 'failed';
  /** The snapshot file restored, if any. */
  snapshot?: string;
  /** Newer snapshot files skipped as torn or corrupt. */
  skipped?: string[];
  /** Ingest-log records replayed. */
  replayedLogRecords?: number;
  /** Ingest-log records that could not be applied on replay and were skipped (each logged with its error). */
  skippedLogRecords?: number;
  /** The last record skipped: its sequence number and why. */
  lastSkipped?: { seq: number; reason: string };
  reason?: string;
}

export class Health {
  private readonly startedAt = Date.now();
  /** Set by recovery: `ok` once restored and caught up. */
  status: 'ok' | 'starting' | 'restoring' = 'starting';
  kafka: (() => KafkaReport) | undefined;
  /** Set by Kafka ingest: why Kafka is not read as it should be, or undefined while it is. */
  degradation: (() => Degradation | undefined) | undefined;
  restore: RestoreReport | undefined;

  constructor(readonly mode: HealthReport['mode']) {}

  report(): HealthReport {
    const d = this.degradation?.();
    return {
      status: this.status === 'ok' && d !== undefined ? 'degraded' : this.status,
      ...(d === undefined ? {} : { reason: d.reason }),
      mode: this.mode,
      kafka: this.kafka?.(),
      restore: this.restore,
      uptimeSeconds: Math.round((Date.now() - this.startedAt) / 1000),
    };
  }

  /**
   * What a GraphQL answer adds under `extensions` (both the Apollo path and the fast path):
   * nothing while ready; `stale: true` while restoring or degraded, with the time of the
   * last fetch response when Kafka cannot be read.
   */
  staleExtensions(): StaleExtensions | undefined {
    const d = this.degradation?.();
    if (d === undefined) return this.status === 'ok' ? undefined : STALE;
    return { stale: true, lastFetchAt: d.lastFetchAt };
  }
}
