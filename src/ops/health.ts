/** What `/health` reports; components fill in their part when they start. */
export interface HealthReport {
  status: 'ok' | 'starting' | 'restoring';
  mode: 'kafka' | 'embedded';
  kafka?: { connected: boolean; brokers: string[]; groupId: string };
  /** Recovery at start-up (src/durability): where it is, from which snapshot, what was replayed. */
  restore?: RestoreReport;
  uptimeSeconds: number;
}

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
  status: HealthReport['status'] = 'starting';
  kafka: (() => NonNullable<HealthReport['kafka']>) | undefined;
  restore: RestoreReport | undefined;

  constructor(readonly mode: HealthReport['mode']) {}

  report(): HealthReport {
    return { status: this.status, mode: this.mode, kafka: this.kafka?.(), restore: this.restore, uptimeSeconds: Math.round((Date.now() - this.startedAt) / 1000) };
  }
}
