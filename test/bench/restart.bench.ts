// Durability with 1M entities: how long queries wait while a snapshot is written (event-loop
// delay p99, perf_hooks.monitorEventLoopDelay), how long a restart takes from process start
// to serving (dist/main.js on the snapshot: /health 200), and how fast the ingest log replays.
// Needs a build (`npm run build`) for the restart.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { ChangeFeed, type Change } from '../../src/changes/change-feed.js';
import { IngestLog, SnapshotDirectory, Snapshotter } from '../../src/durability/index.js';
import { EventProcessor } from '../../src/ingest/event-processor.js';
import { IngestGate } from '../../src/ingest/ingest-gate.js';
import { Router } from '../../src/ingest/router.js';
import { createLogger } from '../../src/ops/logger.js';
import { Metrics } from '../../src/ops/metrics.js';
import { NODE_FLAGS } from '../../src/ops/node-flags.js';
import { parsePipeline } from '../../src/pipeline/load.js';
import { storesFor } from '../support/stores.js';
import { freePort } from '../support/tally-process.js';
import { median, mulberry32, type BenchContext } from './lib.js';

const ENTITIES = 1_000_000;
const PIPELINE = `
sources: [{ name: tx, timestamp: ts, lateness: 1d }]
features:
  - { name: card_txn_count, source: tx, entity: card_id, aggregation: count, windows: [5m, 1h, 24h] }
  - { name: card_amount_sum, source: tx, entity: card_id, aggregation: sum, field: amount, windows: [24h] }
`;
const REPLAY_CALLS = 2_000;
const REPLAY_EVENTS_PER_CALL = 100;

export default async function (ctx: BenchContext): Promise<void> {
  const main = join(process.cwd(), 'dist', 'main.js');
  if (!existsSync(main)) throw new Error('dist/main.js is missing: run `npm run build` first');
  const pipeline = parsePipeline(PIPELINE, 'restart bench');
  const work = mkdtempSync(join(tmpdir(), 'tally-restart-bench-'));
  const log = createLogger('silent');
  try {
    ctx.progress(`building ${ENTITIES.toLocaleString('en-US')} entities (2 features, 2 events each)`);
    const stores = storesFor(pipeline);
    const now = Date.now();
    const rand = mulberry32(5);
    for (let e = 0; e < ENTITIES; e++) {
      const card = `card-${e}`;
      for (let k = 0; k < 2; k++) {
        const ts = now - Math.floor(rand() * 3_600_000);
        stores.features.update('card_txn_count', card, 1, ts);
        stores.features.update('card_amount_sum', card, Math.floor(rand() * 10_000) / 100, ts);
      }
    }
    const dataDir = join(work, 'data');
    const gate = new IngestGate();
    const snapshotter = new Snapshotter({
      dir: new SnapshotDirectory(join(dataDir, 'snapshots')),
      stores,
      gate,
      watermarks: () => [],
      kafka: null,
      ingestLog: null,
      keep: 2,
      mode: 'embedded',
      pipeline: '',
      clock: Date.now,
      log,
    });
    const p99s: number[] = [];
    const maxes: number[] = [];
    const writes: number[] = [];
    const holds: number[] = [];
    let bytes = 0;
    for (let run = 0; run < 3; run++) {
      ctx.progress(`snapshot ${run + 1}/3 with the event loop monitored`);
      const h = monitorEventLoopDelay({ resolution: 5 });
      h.enable();
      const info = await snapshotter.snapshot('bench');
      h.disable();
      p99s.push(h.percentile(99) / 1e6);
      maxes.push(h.max / 1e6);
      writes.push(info.durationMs / 1000);
      holds.push(info.ingestPausedMs / 1000);
      bytes = info.bytes;
    }
    ctx.record({ metric: 'snapshot: event-loop delay p99 while writing, 1M entities', unit: 'ms', tally: median(p99s), runs: p99s, higherIsBetter: false, budget: '<= 50 ms', budgetAbs: 50 });
    ctx.record({ metric: 'snapshot: event-loop delay max while writing, 1M entities', unit: 'ms', tally: median(maxes), runs: maxes, higherIsBetter: false });
    ctx.record({ metric: `snapshot: write time, 1M entities (${(bytes / 2 ** 20).toFixed(0)} MiB)`, unit: 's', tally: median(writes), runs: writes, higherIsBetter: false });
    ctx.record({ metric: 'snapshot: ingest held while the stores are serialised', unit: 's', tally: median(holds), runs: holds, higherIsBetter: false });

    const pipelinePath = join(work, 'pipeline.yaml');
    writeFileSync(pipelinePath, PIPELINE);
    const starts: number[] = [];
    const listens: number[] = [];
    for (let run = 0; run < 3; run++) {
      ctx.progress(`restart ${run + 1}/3: node dist/main.js on the snapshot until /health says ok`);
      const r = await restart(main, { TALLY_PIPELINE: pipelinePath, TALLY_DATA_DIR: dataDir, TALLY_SNAPSHOT_INTERVAL: '0' });
      starts.push(r.readyMs / 1000);
      listens.push(r.listeningMs / 1000);
    }
    ctx.record({ metric: 'restart: process start to serving (/health 200), 1M entities', unit: 's', tally: median(starts), runs: starts, higherIsBetter: false, budget: '<= 5 s', budgetAbs: 5 });
    ctx.record({ metric: 'restart: process start to first HTTP answer (stale while restoring)', unit: 's', tally: median(listens), runs: listens, higherIsBetter: false });

    ctx.progress(`ingest log: ${REPLAY_CALLS * REPLAY_EVENTS_PER_CALL} events in ${REPLAY_CALLS} calls, replayed into empty stores`);
    const logDir = join(work, 'log');
    const ingestLog = IngestLog.open(logDir, 'everysec');
    for (let c = 0; c < REPLAY_CALLS; c++) {
      const events = Array.from({ length: REPLAY_EVENTS_PER_CALL }, (_, i) => ({ card_id: `card-${(c * REPLAY_EVENTS_PER_CALL + i) % 200_000}`, amount: i, ts: now - i }));
      ingestLog.append('tx', events, now);
    }
    await ingestLog.close();
    const rates: number[] = [];
    for (let run = 0; run < 3; run++) {
      const fresh = storesFor(pipeline);
      const processor = new EventProcessor(new Router(pipeline), fresh, new ChangeFeed<Change>(), new Metrics(), log, () => now);
      const reopened = IngestLog.open(logDir, 'everysec');
      const started = performance.now();
      await reopened.replay(0, (r) => processor.ingest(r.source, r.events, r.arrival));
      rates.push((REPLAY_CALLS * REPLAY_EVENTS_PER_CALL) / ((performance.now() - started) / 1000));
      await reopened.close();
    }
    ctx.record({ metric: 'ingest-log replay into the stores (count x 3 windows + sum)', unit: 'events/s', tally: median(rates), runs: rates, higherIsBetter: true });
    ctx.note('Restart: embedded mode, so the time is loading the snapshot (no Kafka to catch up with); with Kafka add the group join and the replay of what arrived after the snapshot.');
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** Starts dist/main.js and times the first HTTP answer and the first /health 200; then kills it. */
async function restart(main: string, env: Record<string, string>): Promise<{ listeningMs: number; readyMs: number }> {
  const port = await freePort();
  const started = performance.now();
  const child = spawn(process.execPath, [...NODE_FLAGS, main], {
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', KAFKA_BROKERS: '', TALLY_DEMO: '0', TALLY_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  let listeningMs = NaN;
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`tally exited with ${child.exitCode} while restoring`);
      const res = await fetch(`http://127.0.0.1:${port}/health`).catch(() => undefined);
      if (res !== undefined && Number.isNaN(listeningMs)) listeningMs = performance.now() - started;
      if (res?.status === 200) return { listeningMs, readyMs: performance.now() - started };
      if (performance.now() - started > 120_000) throw new Error('tally did not become ready within 120 s');
      await new Promise((r) => setTimeout(r, 10));
    }
  } finally {
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
  }
}
