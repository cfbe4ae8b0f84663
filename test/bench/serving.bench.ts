// Online serving over loopback: GraphQL `onlineFeatures` (1 entity x 20 features and 100 x 20)
// against a bare node:http handler that answers the same JSON from the same OnlineFeatures
// object in the same process (test/bench/serving-server.mjs), with 100k cards of state.
//
// - latency at a fixed, evenly paced 2,000 requests/s (open loop; see http-load.ts): p50, p99;
//   and at a rate well below one core's capacity here (1,000/s for 1 x 20, 100/s for 100 x 20);
// - throughput at saturation (autocannon, closed loop), GraphQL against the bare handler.
//
// The server runs in a child process built by tsc (dist/); the load runs in this process. On a
// 2-core machine the two take one core each, so the load generator's own cost is not charged
// to the server, but nothing else may run alongside without showing up in the numbers.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NODE_FLAGS } from '../../src/ops/node-flags.js';
import { maxThroughput, pacedLoad } from './http-load.js';
import { mulberry32, percentiles, type BenchContext } from './lib.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CARDS = 100_000;
const RATE = 2_000;
const PACED_MS = 10_000;
const MAX_S = 8;
/** Rates well within one core here (1 x 20 / 100 x 20), for latency below saturation. */
const lowRate = (entities: number) => (entities === 1 ? 1_000 : 100);
/**
 * Warm-up before the paced run: at the paced rate where the server sustains it (1 x 20), so the
 * run measures the steady state (after 2 s at 500 req/s, the first seconds at 2,000 req/s
 * still paid for compilation and heap growth: a p99 of 166-226 ms, against 9.5 ms after a
 * warm-up at 2,000 req/s); below saturation otherwise (100 x 20 cannot sustain 2,000 req/s).
 */
const WARM_MS = 3_000;
const warmRate = (entities: number) => (entities === 1 ? RATE : Math.min(RATE, 500));

/** A fraud-scoring pipeline with 20 servable names per card: 15 windows and 5 profile fields. */
const PIPELINE = `
sources:
  - { name: transactions, timestamp: ts, lateness: 1d }
  - { name: card_updates, timestamp: ts, lateness: 1d }
features:
  - { name: card_txn_count, source: transactions, entity: card_id, aggregation: count, windows: [1m, 5m, 1h, 24h, 7d] }
  - { name: card_amount_sum, source: transactions, entity: card_id, aggregation: sum, field: amount, windows: [5m, 1h, 24h, 7d] }
  - { name: card_amount_avg, source: transactions, entity: card_id, aggregation: avg, field: amount, windows: [1h, 24h] }
  - { name: card_amount_max, source: transactions, entity: card_id, aggregation: max, field: amount, windows: [24h] }
  - { name: card_merchants, source: transactions, entity: card_id, aggregation: distinct, field: merchant_id, windows: [1h, 24h] }
  - { name: card_amount_p95, source: transactions, entity: card_id, aggregation: quantile, field: amount, quantile: 0.95, windows: [24h] }
views:
  - { name: card_profile, source: card_updates, entity: card_id, fields: { credit_limit: float, country: string, risk_tier: int, blocked: boolean, home_lat: float }, ttl: 30d }
`;

const FEATURES_20 = [
  'card_txn_count:1m',
  'card_txn_count:5m',
  'card_txn_count:1h',
  'card_txn_count:24h',
  'card_txn_count:7d',
  'card_amount_sum:5m',
  'card_amount_sum:1h',
  'card_amount_sum:24h',
  'card_amount_sum:7d',
  'card_amount_avg:1h',
  'card_amount_avg:24h',
  'card_amount_max:24h',
  'card_merchants:1h',
  'card_merchants:24h',
  'card_amount_p95:24h',
  'card_profile:credit_limit',
  'card_profile:country',
  'card_profile:risk_tier',
  'card_profile:blocked',
  'card_profile:home_lat',
];

const QUERY = 'query Score($entities: [String!]!, $features: [String!]!) { onlineFeatures(entities: $entities, features: $features) { entity values freshness } }';
const LOGGED_QUERY = 'query Score($entities: [String!]!, $features: [String!]!, $log: Boolean) { onlineFeatures(entities: $entities, features: $features, log: $log) { entity values freshness requestId } }';

const card = (i: number) => `card-${String(i).padStart(6, '0')}`;

interface Server {
  tally: string;
  bare: string;
  transactions: number;
  loadSeconds: number;
  child: ChildProcess;
}

function build(): void {
  const res = spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: ROOT, encoding: 'utf8' });
  if (res.status !== 0) throw new Error(`npm run build failed:\n${res.stdout}${res.stderr}`);
}

/** Rate of the served-feature log comparison (the issue's budget: <= 10 % more p99 at 1,000 req/s). */
const LOG_RATE = 1_000;
/** Alternating runs of each (the median p99 is reported: one run can meet a scavenge storm). */
const LOG_RUNS = 3;

/**
 * The served-feature log's cost: onlineFeatures 1 x 20 at LOG_RATE req/s with `log: true`
 * (each answer written to <data dir>/served/served.ndjson) against the same requests
 * unlogged, alternating runs on the same server.
 */
async function servedLogCost(ctx: BenchContext, tally: string): Promise<void> {
  const url = `${tally}/graphql`;
  const plain = bodies(1, 1024, 31);
  const logged = plain.map((b) => {
    const body = JSON.parse(b) as { query: string; operationName: string; variables: Record<string, unknown> };
    return JSON.stringify({ ...body, query: LOGGED_QUERY, variables: { ...body.variables, log: true } });
  });
  const p99s: Record<'plain' | 'logged', number[]> = { plain: [], logged: [] };
  for (let run = 0; run < LOG_RUNS; run++) {
    for (const [name, pool] of [
      ['plain', plain],
      ['logged', logged],
    ] as const) {
      ctx.progress(`served-feature log: 1 x 20 ${name}, ${LOG_RATE} req/s paced, run ${run + 1}/${LOG_RUNS}`);
      await pacedLoad(url, pool, { rate: warmRate(1), durationMs: WARM_MS });
      const paced = await pacedLoad(url, pool, { rate: LOG_RATE, durationMs: PACED_MS });
      p99s[name].push(percentiles(paced.latenciesMs, [99]).p99);
    }
  }
  ctx.note(
    `Served-feature log, p99 per run at ${LOG_RATE.toLocaleString('en-US')} req/s: unlogged ${p99s.plain.map((x) => x.toFixed(1)).join(', ')} ms; logged ${p99s.logged.map((x) => x.toFixed(1)).join(', ')} ms. ` +
      'The logged requests select requestId and pass a $log variable: a second query text beside the unlogged one.',
  );
  const mid = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  ctx.record({
    metric: `onlineFeatures 1 x 20 with the served-feature log (log: true, to a file), p99 at ${LOG_RATE.toLocaleString('en-US')} req/s paced (median of ${LOG_RUNS} alternating runs)`,
    unit: 'ms',
    tally: mid(p99s.logged),
    yardstick: mid(p99s.plain),
    yardstickName: 'the same requests unlogged, same server',
    higherIsBetter: false,
    budget: '<= 1.1x the unlogged p99',
    budgetRatio: 1 / 1.1,
  });
}

function startServer(pipelinePath: string, dataDir: string): Promise<Server> {
  // with the V8 flags Tally is deployed with (src/ops/node-flags.ts); the bare handler shares the process
  const child = spawn(process.execPath, ['--expose-gc', ...NODE_FLAGS, join(ROOT, 'test/bench/serving-server.mjs')], {
    cwd: ROOT,
    // A data directory for the served-feature log's file; no interval snapshot during the runs.
    env: { ...process.env, TALLY_PIPELINE: pipelinePath, TALLY_BENCH_CARDS: String(CARDS), TALLY_LOG_LEVEL: 'error', NODE_ENV: 'production', TALLY_DATA_DIR: dataDir, TALLY_SNAPSHOT_INTERVAL: '0' },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line) resolve({ ...(JSON.parse(line) as Omit<Server, 'child'>), child });
    });
    child.on('exit', (code) => reject(new Error(`serving-server exited with code ${code} before listening`)));
  });
}

async function post(url: string, path: string, body: string): Promise<unknown> {
  const res = await fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  if (!res.ok) throw new Error(`POST ${path}: HTTP ${res.status} ${await res.text()}`);
  return res.json();
}

/** Request bodies: `entities` random cards per request, 20 features, variables as a client sends them. */
function bodies(entities: number, count: number, seed: number): string[] {
  const rand = mulberry32(seed);
  return Array.from({ length: count }, () =>
    JSON.stringify({ query: QUERY, operationName: 'Score', variables: { entities: Array.from({ length: entities }, () => card(Math.floor(rand() * CARDS))), features: FEATURES_20 } }),
  );
}

export default async function (ctx: BenchContext): Promise<void> {
  ctx.progress('building dist/ (tsc)');
  build();
  const tmp = join(ROOT, 'bench-results', 'tmp');
  mkdirSync(tmp, { recursive: true });
  const pipelinePath = join(tmp, 'serving-pipeline.yaml');
  writeFileSync(pipelinePath, PIPELINE);
  ctx.progress(`starting Tally and loading ${CARDS.toLocaleString('en-US')} cards with a day of transactions`);
  const dataDir = mkdtempSync(join(tmpdir(), 'tally-serving-bench-'));
  const server = await startServer(pipelinePath, dataDir);
  try {
    ctx.note(
      `State: ${CARDS.toLocaleString('en-US')} card profiles (5 fields) and ${server.transactions.toLocaleString('en-US')} transactions over the last 24 h feeding 15 windows of 6 features, loaded through the app's ingest path (no HTTP) in ${server.loadSeconds.toFixed(1)} s.`,
    );

    // First, on the fresh server: the overloaded 100 x 20 runs below leave a backlog of
    // requests the server is still answering for a while after the client gave up on them,
    // which showed as a p99 of about a second in whichever run came next.
    await servedLogCost(ctx, server.tally);

    for (const entities of [1, 100]) {
      const shape = `${entities} x 20`;
      const pool = bodies(entities, 1024, entities);
      // The same JSON from both, for the same request.
      const [a, b] = await Promise.all([post(server.tally, '/graphql', pool[0]), post(server.bare, '/', pool[0])]);
      if (JSON.stringify(a) !== JSON.stringify(b)) ctx.note(`${shape}: GraphQL and the bare handler answered differently for one request (a window edge between the two reads?)`);
      const bytes = JSON.stringify(a).length;

      const lat: Record<string, { p50: number; p99: number; rate: number; unanswered: number; errors: number; sent: number }> = {};
      const max: Record<string, { rps: number; errors: number }> = {};
      const lowLat: Record<string, { p50: number; p99: number }> = {};
      for (const [name, url] of [
        ['tally', `${server.tally}/graphql`],
        ['bare', `${server.bare}/`],
      ] as const) {
        ctx.progress(`${shape}, ${name}: warm-up, then ${RATE} req/s paced for ${PACED_MS / 1000} s`);
        await pacedLoad(url, pool, { rate: warmRate(entities), durationMs: WARM_MS });
        const paced = await pacedLoad(url, pool, { rate: RATE, durationMs: PACED_MS });
        const { p50, p99 } = percentiles(paced.latenciesMs, [50, 99]);
        lat[name] = { p50, p99, rate: paced.achievedRate, unanswered: paced.unanswered, errors: paced.errors, sent: paced.sent };
        ctx.progress(`${shape}, ${name}: p50 ${p50.toFixed(2)} ms, p99 ${p99.toFixed(2)} ms, ${paced.achievedRate.toFixed(0)} req/s answered${paced.unanswered ? `, ${paced.unanswered} unanswered` : ''}; autocannon for ${MAX_S} s`);
        // Let a backlog from an overloaded paced run drain before measuring further.
        await new Promise((r) => setTimeout(r, 1_000));
        const low = await pacedLoad(url, pool, { rate: lowRate(entities), durationMs: 5_000 });
        const q = percentiles(low.latenciesMs, [50, 99]);
        lowLat[name] = { p50: q.p50, p99: q.p99 };
        const m = await maxThroughput(url, pool, { connections: entities === 1 ? 32 : 16, durationS: MAX_S });
        max[name] = { rps: m.rps, errors: m.errors + m.non2xx };
        ctx.progress(`${shape}, ${name}: ${m.rps.toFixed(0)} req/s at saturation`);
      }
      const budgetMs = entities === 1 ? 2 : 5;
      ctx.record({
        metric: `onlineFeatures ${shape}, p99 latency at ${RATE.toLocaleString('en-US')} req/s paced (p50 ${lat.tally.p50.toFixed(2)} ms; ${lat.tally.rate.toFixed(0)} req/s answered${lat.tally.unanswered ? `, ${lat.tally.unanswered.toLocaleString('en-US')} of ${lat.tally.sent.toLocaleString('en-US')} unanswered: overloaded, p99 is a lower bound` : ''})`,
        unit: 'ms',
        tally: lat.tally.p99,
        yardstick: lat.bare.p99,
        yardstickName: `bare node:http handler, same store (p50 ${lat.bare.p50.toFixed(2)} ms, ${lat.bare.rate.toFixed(0)} req/s answered${lat.bare.unanswered ? `, ${lat.bare.unanswered.toLocaleString('en-US')} unanswered` : ''})`,
        higherIsBetter: false,
        budget: `<= ${budgetMs} ms`,
        budgetAbs: budgetMs,
      });
      ctx.record({
        metric: `onlineFeatures ${shape}, p99 latency at ${lowRate(entities).toLocaleString('en-US')} req/s paced (p50 ${lowLat.tally.p50.toFixed(2)} ms)`,
        unit: 'ms',
        tally: lowLat.tally.p99,
        yardstick: lowLat.bare.p99,
        yardstickName: `bare node:http handler, same store (p50 ${lowLat.bare.p50.toFixed(2)} ms)`,
        higherIsBetter: false,
      });
      ctx.record({
        metric: `onlineFeatures ${shape}, throughput at saturation (autocannon, ${entities === 1 ? 32 : 16} connections, ${(bytes / 1024).toFixed(1)} KiB answers)`,
        unit: 'req/s',
        tally: max.tally.rps,
        yardstick: max.bare.rps,
        yardstickName: 'bare node:http handler, same store',
        higherIsBetter: true,
        budget: '>= 0.5x',
        budgetRatio: 0.5,
      });
      // What limits the p99 budgets at 2,000 req/s, from this run's own numbers.
      const p99Budget = entities === 1 ? 2 : 5;
      if (lat.bare.p99 > p99Budget || lat.bare.unanswered > 0) {
        ctx.note(
          `${shape} at ${RATE.toLocaleString('en-US')} req/s: the bare handler on the same store misses the ${p99Budget} ms p99 budget too (p99 ${lat.bare.p99.toFixed(1)} ms${lat.bare.unanswered ? `, ${lat.bare.unanswered.toLocaleString('en-US')} requests unanswered` : ''}), so the limit is the machine, not the GraphQL layer: ` +
            (entities === 1
              ? `at saturation the bare handler answers ${Math.round(max.bare.rps).toLocaleString('en-US')} req/s and Tally ${Math.round(max.tally.rps).toLocaleString('en-US')}, so ${RATE.toLocaleString('en-US')} req/s keeps one core ${Math.round((RATE / max.tally.rps) * 100)} % busy while the open-loop generator takes the other, and the p99 is the queueing behind scavenges and the generator's own pauses (p50 ${lat.tally.p50.toFixed(2)} ms).`
              : `both answer about ${Math.round(max.bare.rps)} req/s at saturation (${(bytes / 1024).toFixed(0)} KiB per answer, 2,000 feature reads each), so ${RATE.toLocaleString('en-US')} req/s would need about ${Math.ceil(RATE / Math.max(max.tally.rps, max.bare.rps))} such cores.`),
        );
      }
      const errors = lat.tally.errors - lat.tally.unanswered + lat.bare.errors - lat.bare.unanswered + max.tally.errors + max.bare.errors;
      if (errors > 0) ctx.note(`${shape}: ${errors} failed or non-200 requests during the runs.`);
    }
    ctx.note(
      "GraphQL path: each query text's first request goes through Apollo Server, which parses and validates it; later ones are executed by Tally's fast path for resolved queries (src/graphql/query-fast-path.ts: graphql-js execute from a Fastify hook, with the same checks and answer, without Apollo's per-request plugin pipeline). The warm-up sends the first.",
    );
    ctx.note('Latency: an open-loop client sends at an even 2,000 req/s (64 keep-alive sockets) and times each request from send to the last body byte; throughput: autocannon, closed loop. Server and load generator are separate processes on the 2 cores; bodies use variables (one query text, as a client library sends it), entities uniform over 100k cards.');
  } finally {
    server.child.kill('SIGTERM');
    await new Promise((r) => server.child.once('exit', r));
    rmSync(dataDir, { recursive: true, force: true });
  }
}
