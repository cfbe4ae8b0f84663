/**
 * `tally export`: a point-in-time training set. For each row of a spine (entity, timestamp,
 * labels) the value of each asked feature as of the row's timestamp, computed from the event
 * history -- Kafka from the earliest retained offset, or an embedded instance's ingest log --
 * with Tally's own ingest path and as-of reads (src/export/training-set.ts).
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { readIngestLog } from '../durability/ingest-log.js';
import { readSpine, writeTrainingSet, formatOf } from '../export/files.js';
import { TrainingSet } from '../export/training-set.js';
import { readKafkaHistory } from '../ingest/kafka-ingest.js';
import { loadPipeline } from '../pipeline/load.js';
import { formatTime } from '../pipeline/time.js';
import { UsageError } from './args.js';
import type { Command } from './command.js';
import { EXIT, plural } from './output.js';
import { ProgressBar } from './progress.js';

export const exportCommand: Command = {
  name: 'export',
  usage: 'tally export --spine FILE --features NAME,... --out FILE [--pipeline FILE] [--brokers HOST:PORT | --data-dir DIR]',
  summary: 'a point-in-time training set: each spine row with feature values as of its timestamp',
  help: `Reads the spine (entity, timestamp, then label columns kept as they are), replays the
event history through Tally's ingest path, and writes each row with the value of every
asked feature as a read at the row's timestamp would give it: only events with an event
time at or before the timestamp count, never a later one. Features are named as
onlineFeatures takes them: feature:window, view:field, or an on-demand feature (its
request values come from the row's label columns of the same names).

History: Kafka (--brokers, or KAFKA_BROKERS), every source topic from its earliest
retained offset up to the offsets it had when the export started; or, without Kafka,
the ingest log of an embedded instance's data directory (--data-dir, or TALLY_DATA_DIR),
which holds the calls since the oldest kept snapshot. Events older than what is retained
are not seen: the summary says where the history starts.

Files by extension: .csv, .ndjson, .parquet (spine and output alike). Timestamps are
ISO-8601 (UTC unless they name a zone) or epoch milliseconds. Shows progress with the
rate and time left. Exit status: 0 done, 1 failed, 2 wrong usage.`,
  options: {
    spine: { value: true, placeholder: 'FILE', description: 'the rows to fill: entity, timestamp, labels (.csv, .ndjson, .parquet)' },
    features: { value: true, placeholder: 'NAME,...', description: 'feature:window, view:field or on-demand names, comma-separated' },
    out: { value: true, placeholder: 'FILE', description: 'the training set to write (.csv, .ndjson, .parquet)' },
    pipeline: { value: true, placeholder: 'FILE', description: 'the pipeline file (default: TALLY_PIPELINE, else the demo pipeline)' },
    brokers: { value: true, placeholder: 'HOST:PORT,...', description: 'read the history from Kafka (without this or --data-dir: KAFKA_BROKERS)' },
    'data-dir': { value: true, placeholder: 'DIR', description: "read the history from an embedded instance's ingest log (without this or --brokers: TALLY_DATA_DIR when KAFKA_BROKERS is unset)" },
  },
  async run({ positionals, options }, io) {
    if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
    const spinePath = str(options.spine);
    const out = str(options.out);
    const featureList = str(options.features);
    if (spinePath === undefined) throw new UsageError('name the spine: --spine FILE');
    if (out === undefined) throw new UsageError('name the output: --out FILE');
    if (featureList === undefined) throw new UsageError('name the features: --features card_txn_count:1h,card_profile:country');
    formatOf(out, 'output');
    const names = featureList
      .split(',')
      .map((n) => n.trim())
      .filter((n) => n !== '');
    if (names.length === 0) throw new UsageError('--features names no feature');
    // An option names the history; without one, KAFKA_BROKERS, else TALLY_DATA_DIR.
    const givenBrokers = str(options.brokers)?.trim();
    const givenDir = str(options['data-dir']);
    if (givenBrokers !== undefined && givenDir !== undefined) throw new UsageError('name one history: --brokers (Kafka) or --data-dir (an embedded instance), not both');
    const envBrokers = givenDir === undefined ? (process.env.KAFKA_BROKERS ?? '').trim() : '';
    const brokers = givenBrokers ?? envBrokers;
    const dataDir = brokers === '' ? (givenDir ?? (process.env.TALLY_DATA_DIR || undefined)) : undefined;
    if (brokers === '' && dataDir === undefined) throw new UsageError('name the history: --brokers HOST:PORT (Kafka) or --data-dir DIR (an embedded instance)');
    const pipeline = loadPipeline(str(options.pipeline) ?? (process.env.TALLY_PIPELINE || undefined));
    const spine = await readSpine(spinePath);
    const set = new TrainingSet(pipeline, names);
    const started = Date.now();

    let origin: string;
    if (brokers !== '') {
      const bySource = new Map(pipeline.sources.filter((s) => !s.derivedFrom).map((s) => [s.topic, s.name]));
      io.err(`tally export: reading ${plural(bySource.size, 'source topic')} from ${brokers}\n`);
      const bar = new ProgressBar(io, 0, 'messages', started, 'history');
      const { ranges, read } = await readKafkaHistory(
        brokers.split(',').map((b) => b.trim()),
        [...bySource.keys()],
        (m) => set.applyRaw(bySource.get(m.topic)!, m.value, m.partition, m.timestamp),
        (done, total) => {
          bar.setTotal(total);
          bar.update(done);
        },
      );
      bar.update(read, true);
      const trimmed = ranges.filter((r) => r.low > 0n);
      origin = trimmed.length === 0 ? 'every partition from offset 0' : `${plural(trimmed.length, 'partition')} trimmed by retention (${trimmed.map((r) => `${r.topic}[${r.partition}] from ${r.low}`).join(', ')})`;
    } else {
      const dir = join(resolve(dataDir!), 'log');
      if (!existsSync(dir)) {
        io.err(`tally export: ${dir} holds no ingest log (is ${resolve(dataDir!)} an embedded instance's TALLY_DATA_DIR?)\n`);
        return EXIT.failed;
      }
      io.err(`tally export: reading the ingest log in ${dir}\n`);
      let records = 0;
      const { first } = await readIngestLog(dir, (r) => {
        set.applyCall(r.source, r.events, r.arrival);
        records++;
      });
      origin = records === 0 ? 'the ingest log is empty' : first <= 1 ? 'the ingest log from its first record' : `the ingest log from record ${first} (older records were cut after snapshots)`;
    }

    const bar = new ProgressBar(io, spine.rows.length, 'rows', Date.now(), 'rows   ');
    const values: unknown[][] = new Array(spine.rows.length);
    let later = 0;
    for (let i = 0; i < spine.rows.length; i++) {
      values[i] = set.values(spine.rows[i]);
      if (i % 1_000 === 999) bar.update(i + 1);
      if (spine.rows[i].timestamp > Date.now()) later++;
    }
    bar.update(spine.rows.length, true);
    writeTrainingSet(out, { spine, names, kinds: set.kinds, values });
    const s = set.stats;
    const refused = Object.entries(s.refusedBy)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
    const times = spine.rows.map((r) => r.timestamp);
    io.out(
      [
        `wrote       ${out}: ${plural(spine.rows.length, 'row')} x ${plural(names.length, 'feature')} in ${((Date.now() - started) / 1000).toFixed(1)} s`,
        `history     ${plural(s.accepted, 'event')} applied, ${s.refused} refused${refused ? ` (${refused})` : ''}; ${origin}`,
        ...(times.length > 0 ? [`spine       ${formatTime(Math.min(...times))} .. ${formatTime(Math.max(...times))}${later > 0 ? `; ${later} rows are in the future` : ''}`] : []),
        '',
      ].join('\n'),
    );
    return EXIT.ok;
  },
};

const str = (v: string | true | undefined): string | undefined => (typeof v === 'string' ? v : undefined);
