/**
 * Recovery: from a data directory (and Kafka) back to the state before the stop or crash.
 *
 * prepare() — awaited at start-up, before the HTTP server listens:
 *   1. shut the IngestGate (nothing is applied until the state is back);
 *   2. load the newest snapshot that passes every check, falling back past torn or corrupt
 *      ones (each logged and renamed `.corrupt`); open the ingest log (a torn tail is cut);
 *   3. with Kafka: create missing topics, read each partition's earliest and next offsets,
 *      and check the snapshot against them. An offset older than what Kafka still holds (the
 *      retention gap) or beyond what it ever held (a recreated topic) means the events in
 *      between cannot be replayed: refuse to become ready and say why, unless
 *      TALLY_REBUILD_FROM_EARLIEST is set, which drops the snapshot and reads from the start;
 *   4. work out each partition's next offset: the one after the snapshot's (partitions
 *      absent from it: the earliest offset).
 *
 * run() — in the background while queries are answered (marked stale) from what is loaded:
 *   5. join the consumer group, paused, each partition sought to its next offset (joining
 *      may wait out a killed predecessor's session), while the snapshot is loaded into the
 *      stores and watermarks, a slice at a time;
 *   6. replay the ingest-log records after the snapshot's log position, then log new calls;
 *   7. open the gate, resume Kafka and wait until every partition has reached the offset it
 *      had when Tally started; then report ready (`/health` status ok).
 *
 * Without a data directory there is no snapshot: Kafka is read from the earliest offsets,
 * so the state in memory is rebuilt from what the topics still hold.
 */
import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { EventIngest } from '../ingest/event-ingest.js';
import type { EventProcessor } from '../ingest/event-processor.js';
import type { IngestGate } from '../ingest/ingest-gate.js';
import type { AppliedOffset, KafkaIngest, PartitionRange } from '../ingest/kafka-ingest.js';
import type { Health, RestoreReport } from '../ops/health.js';
import type { Logger } from '../ops/logger.js';
import type { Metrics } from '../ops/metrics.js';
import type { Pipeline } from '../pipeline/pipeline.js';
import { IngestLog, type FsyncPolicy } from './ingest-log.js';
import { SnapshotDirectory, type Snapshot } from './snapshot-files.js';
import { restoreStores, type StoreSet } from './store-codec.js';

export interface RecoveryOptions {
  /** Undefined = memory only. */
  dataDir?: string;
  fsync: FsyncPolicy;
  rebuildFromEarliest: boolean;
  stores: StoreSet;
  processor: EventProcessor;
  ingest: EventIngest;
  gate: IngestGate;
  kafka: KafkaIngest | null;
  health: Health;
  /** Counts records skipped on replay (tally_internal_errors_total{where="replay"}). */
  metrics?: Metrics;
  log: Logger;
  /** pipelineHashOf() of the running pipeline. */
  pipelineHash: string;
}

type Target = { topic: string; partition: number; next: bigint };

export class Recovery {
  /** Snapshot generations; undefined without a data directory. */
  readonly snapshots: SnapshotDirectory | undefined;
  ingestLog: IngestLog | null = null;
  private snapshot: Snapshot | undefined;
  private targets: Target[] = [];
  private kafkaStart: { from: Target[]; applied: AppliedOffset[] } | undefined;
  private refused = false;
  private readyResolve: (() => void) | undefined;
  /** Resolves once ready (never, when refused or failed: see /health). */
  readonly ready = new Promise<void>((resolve) => (this.readyResolve = resolve));

  constructor(private readonly o: RecoveryOptions) {
    this.snapshots = o.dataDir === undefined ? undefined : new SnapshotDirectory(join(o.dataDir, 'snapshots'));
  }

  /** Where the restore is (see RestoreReport.state). */
  get state(): string {
    return this.o.health.restore?.state ?? 'starting';
  }

  /** True once the stores hold a consistent state (snapshot and logs applied): snapshots may be taken. */
  get consistent(): boolean {
    const s = this.o.health.restore?.state;
    return s === 'catching-up' || s === 'done';
  }

  async prepare(): Promise<void> {
    const o = this.o;
    await o.gate.pause();
    o.health.status = 'restoring';
    o.health.restore = { state: 'loading' };
    if (o.dataDir !== undefined) {
      mkdirSync(this.snapshots!.dir, { recursive: true });
      const leftovers = await this.snapshots!.removeLeftovers();
      if (leftovers > 0) o.log.warn({ files: leftovers }, 'removed snapshot temp files left by an interrupted write');
      const { snapshot, skipped } = await this.snapshots!.loadNewest();
      for (const s of skipped) o.log.error({ path: s.path, problems: s.problems }, 'snapshot is torn or corrupt; renamed .corrupt, falling back to the previous generation');
      this.snapshot = snapshot;
      o.health.restore = { state: 'loading', snapshot: snapshot?.path, skipped: skipped.map((s) => s.path) };
      if (snapshot) o.log.info({ path: snapshot.path, generation: snapshot.meta.generation, createdAt: new Date(snapshot.meta.createdAt).toISOString(), bytes: snapshot.bytes }, 'restoring from snapshot');
      else o.log.info({ dataDir: o.dataDir }, 'no snapshot to restore: starting empty');
      this.ingestLog = IngestLog.open(join(o.dataDir, 'log'), o.fsync, (message) => o.log.warn({ message }, 'ingest log repaired'));
    }
    if (o.kafka) await this.prepareKafka(o.kafka);
  }

  private async prepareKafka(kafka: KafkaIngest): Promise<void> {
    const o = this.o;
    await kafka.connect();
    const ranges = await kafka.partitionRanges();
    const snap = new Map((this.snapshot?.offsets ?? []).map((x) => [`${x.topic}\u0000${x.partition}`, BigInt(x.offset)]));
    const gaps = gapsOf(this.snapshot, ranges, snap);
    if (gaps.length > 0) {
      if (!o.rebuildFromEarliest) {
        const reason = `Kafka no longer holds the events after snapshot ${this.snapshot!.path}: ${gaps.join('; ')}. Restore a newer snapshot, or start with TALLY_REBUILD_FROM_EARLIEST=1 to drop it and rebuild from what the topics hold.`;
        this.refuse(reason);
        return;
      }
      o.log.warn({ gaps, snapshot: this.snapshot!.path }, 'TALLY_REBUILD_FROM_EARLIEST: dropping the snapshot and reading every partition from its earliest offset');
      this.snapshot = undefined;
      snap.clear();
    }
    const from = ranges.map((r) => {
      const last = snap.get(`${r.topic}\u0000${r.partition}`);
      return { topic: r.topic, partition: r.partition, next: last === undefined ? r.low : last + 1n };
    });
    const applied: AppliedOffset[] = ranges.flatMap((r) => {
      const last = snap.get(`${r.topic}\u0000${r.partition}`);
      return last === undefined ? [] : [{ topic: r.topic, partition: r.partition, offset: last }];
    });
    this.targets = ranges.map((r) => ({ topic: r.topic, partition: r.partition, next: r.high }));
    const behind = ranges.reduce((n, r, i) => n + Number(r.high - from[i].next), 0);
    o.log.info({ partitions: ranges.length, messagesToReplay: behind }, 'kafka positions restored');
    this.kafkaStart = { from, applied };
  }

  private refuse(reason: string): void {
    this.refused = true;
    this.o.health.restore = { ...this.o.health.restore, state: 'refused', reason };
    this.o.log.error({ reason }, 'refusing to become ready');
    // Ingest would wait forever: answer it at once instead.
    this.o.gate.close();
  }

  /**
   * Steps 5-7 (see the header). Never throws: a failure is logged and reported by /health.
   * When prepare() refused, the snapshot and the log are still loaded, so queries answer
   * (stale) from the last known state, but ingest stays closed and Kafka is not read.
   */
  async run(onConsistent: () => void = () => undefined): Promise<void> {
    const o = this.o;
    const progress = (state: RestoreReport['state'], more: Partial<RestoreReport> = {}) => {
      if (!this.refused) o.health.restore = { ...o.health.restore!, ...more, state };
    };
    try {
      // Joining the group can take a session timeout (a killed predecessor still holds its
      // partitions): do it while the snapshot loads. The consumer stays paused until step 7.
      const joining = this.refused || !this.kafkaStart ? undefined : o.kafka?.start(this.kafkaStart.from, this.kafkaStart.applied);
      joining?.catch(() => undefined);
      const snap = this.snapshot;
      if (snap) {
        const report = await restoreStores(snap.stores, o.stores);
        for (const w of snap.watermarks) o.processor.watermarks.restore(w.source, w.partition, w.ts);
        for (const d of snap.meta.dedup ?? []) o.processor.dedup.load(d.partition, d.entries);
        for (const s of report.skipped) o.log.warn({ section: s }, 'snapshot section not restored; that store starts empty');
        o.log.info({ counts: report.counts, pipelineChanged: snap.meta.pipeline !== o.pipelineHash }, 'snapshot loaded');
      }
      let replayed = 0;
      if (this.ingestLog) {
        progress('replaying');
        const after = snap?.meta.logSeq ?? 0;
        if (!this.refused) await this.ingestLog.advanceTo(after);
        let skipped = 0;
        replayed = await this.ingestLog.replay(after, (r) => {
          // One record that cannot be applied is skipped, counted and reported: replay never
          // stops on it (events are refused one by one inside a record; this catches the rest).
          try {
            o.processor.ingest(r.source, Array.isArray(r.events) ? r.events : [r.events], r.arrival);
          } catch (err) {
            skipped++;
            o.metrics?.internalErrors.inc({ where: 'replay' });
            o.health.restore = { ...o.health.restore!, skippedLogRecords: skipped, lastSkipped: { seq: r.seq, reason: (err as Error).message ?? String(err) } };
            o.log.error({ seq: r.seq, source: r.source, error: (err as Error).stack ?? String(err) }, 'ingest-log record could not be applied; skipped');
          }
        });
        if (replayed > 0) o.log.info({ records: replayed, skipped }, 'ingest log replayed');
      }
      if (this.refused) {
        o.log.warn({ snapshot: snap?.path, replayedLogRecords: replayed }, 'last known state loaded for stale reads; not ready (see /health)');
        return;
      }
      if (this.ingestLog) o.ingest.useJournal(this.ingestLog);
      progress(o.kafka ? 'catching-up' : 'done', { replayedLogRecords: replayed });
      o.gate.resume();
      onConsistent();
      if (o.kafka) {
        await joining;
        o.kafka.resume();
        await o.kafka.caughtUp(this.targets);
        progress('done');
      }
      o.health.status = 'ok';
      o.log.info({ snapshot: snap?.path, replayedLogRecords: replayed }, 'state restored: ready');
      this.readyResolve?.();
    } catch (err) {
      o.health.restore = { ...o.health.restore!, state: 'failed', reason: (err as Error).message };
      o.log.error({ error: (err as Error).stack ?? String(err) }, 'restore failed; not ready');
      // Ingest would wait forever for a state that will not come: answer it at once instead.
      o.gate.close();
    }
  }
}

/** Partitions the snapshot has offsets for that Kafka cannot continue from. */
function gapsOf(snapshot: Snapshot | undefined, ranges: readonly PartitionRange[], snap: Map<string, bigint>): string[] {
  if (snapshot === undefined) return [];
  const gaps: string[] = [];
  for (const r of ranges) {
    const last = snap.get(`${r.topic}\u0000${r.partition}`);
    if (last === undefined) continue;
    if (last + 1n < r.low) gaps.push(`${r.topic}[${r.partition}] needs offset ${last + 1n}, the earliest kept is ${r.low}`);
    else if (last + 1n > r.high) gaps.push(`${r.topic}[${r.partition}] was applied up to ${last}, the topic ends at ${r.high - 1n} (was it recreated?)`);
  }
  return gaps;
}

/** sha256 of the pipeline definitions, recorded in META. */
export function pipelineHashOf(pipeline: Pipeline): string {
  return createHash('sha256').update(JSON.stringify(pipeline)).digest('hex');
}
