/**
 * Snapshotter: writes one snapshot generation of every store, with the source offsets and
 * watermarks the stores reflect, at a consistent point.
 *
 * The point: Kafka fetching is paused and the IngestGate shut, which waits for the batch or
 * ingest call in progress to finish; from then until the last section is written no event
 * is applied, so offsets, ingest-log position, watermarks and stores all describe the same
 * instant. Serialising happens in slices with yields in between (store-codec.ts), so queries
 * keep being answered; only ingest waits. Then ingest resumes while the file is fsynced,
 * renamed into place and the directory fsynced; old generations are pruned, the ingest log
 * is cut up to what the oldest kept generation covers, and the snapshot's offsets are
 * committed to the consumer group (so committed offsets never run ahead of a snapshot).
 *
 * Snapshots never overlap: a request while one is being written waits for it, then writes
 * its own.
 */
import type { Logger } from '../ops/logger.js';
import type { IngestGate } from '../ingest/ingest-gate.js';
import type { AppliedOffset } from '../ingest/kafka-ingest.js';
import type { IngestLog } from './ingest-log.js';
import { SECTION } from './snapshot-format.js';
import type { SnapshotDirectory, SnapshotMeta, SourceOffset, WatermarkState } from './snapshot-files.js';
import { writeStores, type SectionCounts, type StoreSet } from './store-codec.js';

/** What a snapshot wrote (the admin `snapshot` mutation answers this). */
export interface SnapshotInfo {
  generation: number;
  path: string;
  bytes: number;
  reason: string;
  createdAt: number;
  /** From request to file in place. */
  durationMs: number;
  /** How long ingest was held while the stores were serialised. */
  ingestPausedMs: number;
  offsets: SourceOffset[];
  logSeq: number;
  counts: SectionCounts;
}

/** The Kafka side as the snapshotter needs it (KafkaIngest). */
export interface SnapshotKafka {
  pause(): void;
  resume(): void;
  /** The applied offsets, or throws when no snapshot may be taken now (refusals not yet in the DLQ). */
  snapshotOffsets(): AppliedOffset[];
  commit(offsets: readonly AppliedOffset[]): Promise<void>;
}

export interface SnapshotterOptions {
  dir: SnapshotDirectory;
  stores: StoreSet;
  gate: IngestGate;
  watermarks: () => WatermarkState[];
  /** The repartition de-duplication state to keep with the stores (a cluster's; none otherwise). */
  dedup?: () => SnapshotMeta['dedup'];
  kafka: SnapshotKafka | null;
  ingestLog: IngestLog | null;
  keep: number;
  mode: 'kafka' | 'embedded';
  /** sha256 of the pipeline definitions. */
  pipeline: string;
  clock: () => number;
  log: Logger;
  /** Test hook: ms to wait after each chunk written. */
  writeDelayMs?: number;
  /** Told of each snapshot written, or of the error (metrics). */
  onWritten?: (info: SnapshotInfo) => void;
  onFailed?: (err: Error) => void;
}

export class Snapshotter {
  private chain: Promise<unknown> = Promise.resolve();
  private writing = false;
  /** The last snapshot written by this process. */
  last: SnapshotInfo | undefined;

  constructor(private readonly o: SnapshotterOptions) {}

  /** True while a snapshot is being written. */
  get busy(): boolean {
    return this.writing;
  }

  /** Writes a snapshot (after any in progress); resolves with what was written. */
  snapshot(reason: string): Promise<SnapshotInfo> {
    const run = this.chain.then(() => this.write(reason));
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async write(reason: string): Promise<SnapshotInfo> {
    const o = this.o;
    const started = performance.now();
    this.writing = true;
    const generation = await o.dir.nextGeneration();
    const pending = await o.dir.create(generation, { chunkDelayMs: o.writeDelayMs });
    o.kafka?.pause();
    await o.gate.pause();
    const pausedAt = performance.now();
    let held = true;
    const release = () => {
      if (!held) return;
      held = false;
      o.gate.resume();
      o.kafka?.resume();
    };
    try {
      const createdAt = o.clock();
      const applied = o.kafka?.snapshotOffsets() ?? [];
      const offsets: SourceOffset[] = applied.map((a) => ({ topic: a.topic, partition: a.partition, offset: a.offset.toString() }));
      const logSeq = o.ingestLog?.lastSeq ?? 0;
      // Everything up to logSeq on disk, and later records in a segment of their own.
      await o.ingestLog?.rotate();
      const dedup = o.dedup?.();
      const meta: SnapshotMeta = { generation, createdAt, reason, mode: o.mode, logSeq, pipeline: o.pipeline, counts: countRecords(o.stores), ...(dedup !== undefined && dedup.length > 0 ? { dedup } : {}) };
      const enc = pending.encoder;
      await enc.header(createdAt);
      await enc.json(SECTION.meta, meta);
      await enc.json(SECTION.offsets, offsets);
      await enc.json(SECTION.watermarks, o.watermarks());
      const counts = await writeStores(enc, o.stores);
      await enc.footer();
      release();
      const ingestPausedMs = performance.now() - pausedAt;
      const { path, bytes } = await pending.commit();
      await this.afterCommit(logSeq, generation);
      try {
        await o.kafka?.commit(applied);
      } catch (err) {
        o.log.warn({ error: (err as Error).message }, 'could not commit the snapshot offsets to the consumer group (lag monitoring only)');
      }
      const info: SnapshotInfo = { generation, path, bytes, reason, createdAt, durationMs: performance.now() - started, ingestPausedMs, offsets, logSeq, counts };
      this.last = info;
      o.onWritten?.(info);
      o.log.info({ generation, path, bytes, reason, durationMs: Math.round(info.durationMs), ingestPausedMs: Math.round(ingestPausedMs), logSeq }, 'snapshot written');
      return info;
    } catch (err) {
      release();
      await pending.abort();
      o.log.error({ generation, reason, error: (err as Error).message }, 'snapshot failed');
      o.onFailed?.(err as Error);
      throw err;
    } finally {
      this.writing = false;
    }
  }

  /** Prunes old generations, then cuts the ingest log up to what the oldest kept one covers. */
  private async afterCommit(logSeq: number, generation: number): Promise<void> {
    const o = this.o;
    const kept = await o.dir.prune(o.keep);
    if (o.ingestLog === null) return;
    let covered = logSeq;
    for (const k of kept) {
      if (k.generation === generation) continue;
      // Unreadable META: cut nothing for it until it is pruned.
      covered = Math.min(covered, (await o.dir.readMeta(k.path))?.logSeq ?? 0);
    }
    o.ingestLog.truncate(covered);
  }
}

/** Records per store section, known before writing (META carries them). */
export function countRecords(stores: StoreSet): SectionCounts {
  const counts: SectionCounts = {};
  for (const { name, entities } of stores.features.sizes()) counts[`${SECTION.feature} ${name}`] = entities;
  for (const { name, entities } of stores.views.sizes()) counts[`${SECTION.view} ${name}`] = entities;
  for (const b of stores.leaderboards) counts[`${SECTION.leaderboard} ${b.name}`] = b.snapshotHead().periods.reduce((n, p) => n + p.size, 0);
  for (const c of stores.geo) counts[`${SECTION.geo} ${c.name}`] = c.size;
  return counts;
}
