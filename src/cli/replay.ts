/**
 * `tally replay`: rebuilds the state from Kafka — every source partition from its earliest
 * offset — into a data directory, then writes a snapshot there. It runs Tally itself (the
 * same recovery path as a start with an empty data directory) under a consumer group of its
 * own, so running instances keep their partitions, and shows a progress bar while the
 * partitions are read up to the offsets they had when the replay started.
 */
import { parseIsoTime } from '../pipeline/time.js';
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import { createTally } from '../bootstrap.js';
import { Durability } from '../durability/durability.module.js';
import type { StateDigest } from '../durability/digest.js';
import { KafkaIngest, type PartitionRange } from '../ingest/kafka-ingest.js';
import { Health } from '../ops/health.js';
import { loadPipeline } from '../pipeline/load.js';
import { loadSettings } from '../settings/settings.js';
import { UsageError } from './args.js';
import type { Command } from './command.js';
import { bytes, EXIT, plural, type Output } from './output.js';
import { ProgressBar } from './progress.js';

/** How often progress is measured (and redrawn on a terminal). */
const TICK_MS = 200;

export const replayCommand: Command = {
  name: 'replay',
  usage: 'tally replay --data-dir DIR [--brokers HOST:PORT] [--pipeline FILE] [--group ID] [--resume] [--digest-at TIME]',
  summary: 'rebuild the state from Kafka (earliest offsets) into a data directory, with progress',
  help: `Reads every source topic of the pipeline from its earliest offset, applies the events as
Tally does, and writes a snapshot (with the source offsets it reflects) into
DIR/snapshots/ — so a new instance started with TALLY_DATA_DIR=DIR serves at once and
continues from those offsets. Reads until each partition reaches the offset it had
when the replay started; shows a progress bar with the rate. At the end it prints the
snapshot written and the state digest (the admin \`digest\` query gives the same for a
running instance; --digest-at reads both at the same instant).

The replay uses a consumer group of its own (tally-replay-<time> unless --group), so
running instances keep their partitions. DIR must hold no snapshot unless --resume
(then the replay continues from the newest one). The app's own logs are off unless
TALLY_LOG_LEVEL is set (e.g. TALLY_LOG_LEVEL=info).
Exit status: 0 done, 1 failed (Kafka unreachable, offsets gone, ...), 2 wrong usage.`,
  options: {
    'data-dir': { value: true, placeholder: 'DIR', description: 'where the snapshot is written (DIR/snapshots/); default TALLY_DATA_DIR' },
    brokers: { value: true, placeholder: 'HOST:PORT,...', description: 'Kafka brokers (default: KAFKA_BROKERS)' },
    pipeline: { value: true, placeholder: 'FILE', description: 'the pipeline file (default: TALLY_PIPELINE, else the demo pipeline)' },
    group: { value: true, placeholder: 'ID', description: 'consumer group for the replay (default: tally-replay-<time>)' },
    resume: { description: 'continue from the newest snapshot in DIR instead of requiring none' },
    'digest-at': { value: true, placeholder: 'TIME', description: 'read the digest as of this ISO-8601 time (default: now)' },
  },
  async run({ positionals, options }, io) {
    if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
    const dataDir = str(options['data-dir']) ?? process.env.TALLY_DATA_DIR;
    if (!dataDir) throw new UsageError('name the data directory: --data-dir DIR (or set TALLY_DATA_DIR)');
    const brokers = str(options.brokers) ?? process.env.KAFKA_BROKERS ?? '';
    if (brokers.trim() === '') throw new UsageError('name the Kafka brokers: --brokers HOST:PORT (or set KAFKA_BROKERS)');
    const digestAt = str(options['digest-at']);
    if (digestAt !== undefined && Number.isNaN(parseIsoTime(digestAt))) throw new UsageError(`--digest-at: "${digestAt}" is not an ISO-8601 time (UTC unless it names a zone)`);
    const snapshots = join(resolve(dataDir), 'snapshots');
    if (!options.resume && existsSync(snapshots) && readdirSync(snapshots).some((f) => f.endsWith('.tsnap'))) {
      io.err(`tally replay: ${snapshots} already holds snapshots; choose an empty directory, or --resume to continue from the newest\n`);
      return EXIT.failed;
    }
    const pipelinePath = str(options.pipeline) ?? (process.env.TALLY_PIPELINE || undefined);
    const pipeline = loadPipeline(pipelinePath);
    const settings = loadSettings({
      ...process.env,
      PORT: '0',
      HOST: '127.0.0.1',
      KAFKA_BROKERS: brokers,
      KAFKA_GROUP_ID: str(options.group) ?? `tally-replay-${Date.now()}`,
      TALLY_DATA_DIR: resolve(dataDir),
      TALLY_SNAPSHOT_INTERVAL: '0',
      TALLY_DEMO: '0',
      ...(pipelinePath ? { TALLY_PIPELINE: pipelinePath } : {}),
    });
    io.err(`tally replay: ${pipeline.sources.filter((s) => !s.derivedFrom).length} source topics from ${brokers} into ${resolve(dataDir)} (group ${settings.kafkaGroupId})\n`);
    const started = Date.now();
    let app: INestApplication | undefined;
    try {
      // The app logs JSON lines on stdout, which here carries the summary: none of them unless
      // TALLY_LOG_LEVEL asks (a refused or failed restore is reported below from /health's reason).
      const level = process.env.TALLY_LOG_LEVEL;
      process.env.TALLY_LOG_LEVEL = level ?? 'fatal';
      try {
        app = await createTally({ settings, pipeline });
      } finally {
        if (level === undefined) delete process.env.TALLY_LOG_LEVEL;
      }
      const durability = app.get(Durability);
      const kafka = app.get(KafkaIngest);
      const health = app.get(Health);
      const ranges = await kafka.partitionRanges();
      const progress = new Progress(io, ranges, started);
      const outcome = await new Promise<'done' | string>((done) => {
        const timer = setInterval(() => {
          const state = health.restore?.state;
          progress.update(kafka.appliedOffsets());
          if (state === 'refused' || state === 'failed') {
            clearInterval(timer);
            done(health.restore?.reason ?? state);
          }
        }, TICK_MS);
        void durability.recovery.ready.then(() => {
          clearInterval(timer);
          done('done');
        });
      });
      progress.update(kafka.appliedOffsets(), true);
      if (outcome !== 'done') {
        io.err(`tally replay: ${outcome}\n`);
        return EXIT.failed;
      }
      const info = await durability.snapshot('replay');
      const digest = await durability.digest(digestAt === undefined ? undefined : parseIsoTime(digestAt));
      const seconds = (Date.now() - started) / 1000;
      io.out(summary(progress.applied, ranges.length, seconds, info, digest));
      return EXIT.ok;
    } finally {
      await app?.close();
    }
  },
};

const str = (v: string | true | undefined): string | undefined => (typeof v === 'string' ? v : undefined);

function summary(applied: number, partitions: number, seconds: number, info: { path: string; bytes: number; generation: number }, digest: StateDigest): string {
  const lines = [
    `replayed    ${plural(applied, 'message')} from ${plural(partitions, 'partition')} in ${seconds.toFixed(1)} s (${Math.round(applied / Math.max(seconds, 0.001)).toLocaleString('en')}/s)`,
    `snapshot    ${info.path} (${bytes(info.bytes)}, generation ${info.generation})`,
    `digest      ${digest.digest} (as of ${new Date(digest.at).toISOString()})`,
    `watermarks  ${digest.watermarks}`,
    ...digest.stores.map((s) => `  ${`${s.kind} ${s.name}`.padEnd(34)} ${String(s.entries).padStart(9)}  ${s.digest.slice(0, 16)}`),
  ];
  return `${lines.join('\n')}\n`;
}

/** The progress bar: messages applied out of those each partition held at the start. */
class Progress {
  private readonly low = new Map<string, bigint>();
  private readonly bar: ProgressBar;

  constructor(io: Output, ranges: readonly PartitionRange[], started: number) {
    for (const r of ranges) this.low.set(`${r.topic}\u0000${r.partition}`, r.low);
    this.bar = new ProgressBar(io, ranges.reduce((n, r) => n + Number(r.high - r.low), 0), 'messages', started);
  }

  get applied(): number {
    return this.bar.done;
  }

  update(offsets: readonly { topic: string; partition: number; offset: bigint }[], final = false): void {
    let applied = 0;
    for (const o of offsets) {
      const low = this.low.get(`${o.topic}\u0000${o.partition}`);
      if (low !== undefined) applied += Number(o.offset - low + 1n);
    }
    this.bar.update(applied, final);
  }
}
