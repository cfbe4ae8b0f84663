// Read latency under write load: `onlineFeatures` (1 card x 10 features) at an even 1,000
// requests/s, first on an idle server, then while the same server ingests at half its maximum
// rate. Budget: p99 under load <= 2x the idle p99, and the server's event-loop delay p99
// (perf_hooks.monitorEventLoopDelay, 1 ms resolution) <= 5 ms.
//
// The server runs in a child process (test/bench/tally-server.mjs) and ingests through its own
// ingest path (router, lateness, stores, change feed; no HTTP) in batches of 100 events, paced.
// Its maximum is measured first, the same way, flat out. The benchmark's process sends the
// reads open loop: on a fixed schedule, whether or not earlier ones have answered, each timed
// from send to the last byte of its answer.
import { mkdirSync, writeFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { join } from 'node:path';
import { ROOT, startServerChild } from './dist-app.js';
import { paced } from './loopback-load.js';
import { mulberry32, percentiles, type BenchContext } from './lib.js';

const RATE = 1_000;
const READ_MS = 10_000;
const BATCH = 100;
const CARDS = 100_000;

const PIPELINE = `
sources:
  - { name: transactions, timestamp: ts, lateness: 1d }
features:
  - { name: card_txn_count, source: transactions, entity: card_id, aggregation: count, windows: [1m, 5m, 1h, 24h] }
  - { name: card_amount_sum, source: transactions, entity: card_id, aggregation: sum, field: amount, windows: [5m, 1h, 24h] }
  - { name: card_amount_max, source: transactions, entity: card_id, aggregation: max, field: amount, windows: [24h] }
  - { name: card_merchants, source: transactions, entity: card_id, aggregation: distinct, field: merchant_id, windows: [1h, 24h] }
leaderboards:
  - { name: top_merchants, source: transactions, member: merchant_id, score: amount, mode: incr, period: all }
`;

const FEATURES = [
  'card_txn_count:1m',
  'card_txn_count:5m',
  'card_txn_count:1h',
  'card_txn_count:24h',
  'card_amount_sum:5m',
  'card_amount_sum:1h',
  'card_amount_sum:24h',
  'card_amount_max:24h',
  'card_merchants:1h',
  'card_merchants:24h',
];
const QUERY = 'query Score($entities: [String!]!, $features: [String!]!) { onlineFeatures(entities: $entities, features: $features) { entity values freshness } }';

interface Eld {
  /** server CPU time / wall time */
  cpu: number;
  p50: number;
  p99: number;
  max: number;
}

const pct = (x: number) => `${Math.round(x * 100)} % of a core`;

/**
 * The load generator shares the 2 cores with the server: runs `fn` while watching this
 * process's own event-loop delay, which delays sends and the timing of answers alike, so a
 * late generator shows instead of passing for server latency.
 */
async function watched<T>(fn: () => Promise<T>): Promise<{ result: T; p99: number; max: number }> {
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  try {
    return { result: await fn(), p99: h.percentile(99) / 1e6, max: h.max / 1e6 };
  } finally {
    h.disable();
  }
}

export default async function (ctx: BenchContext): Promise<void> {
  const tmp = join(ROOT, 'bench-results', 'tmp');
  mkdirSync(tmp, { recursive: true });
  const pipelinePath = join(tmp, 'read-under-write-pipeline.yaml');
  writeFileSync(pipelinePath, PIPELINE);
  ctx.progress('starting Tally (child process)');
  const server = await startServerChild({ TALLY_PIPELINE: pipelinePath, TALLY_RATE_LIMIT: '0' });
  try {
    const gqlUrl = `${server.url}/graphql`;
    const rand = mulberry32(3);
    const bodies = Array.from({ length: 2048 }, () =>
      Buffer.from(JSON.stringify({ query: QUERY, operationName: 'Score', variables: { entities: [`card-${String(Math.floor(rand() * CARDS)).padStart(6, '0')}`], features: FEATURES } })),
    );

    // The maximum is measured on the filled state: while the 100k cards are first created the
    // stores are small and ingest is faster, and half of that would be more than half later.
    ctx.progress(`fill the state: ingest at its maximum (in-process, batches of ${BATCH}) for 4 s`);
    const fill = (await server.call<{ eventsPerS: number }>('ingestMax', { durationMs: 4_000, batch: BATCH })).eventsPerS;
    ctx.progress(`${Math.round(fill).toLocaleString('en-US')} events/s while filling; now the maximum on the filled state, 3 s`);
    const max = (await server.call<{ eventsPerS: number }>('ingestMax', { durationMs: 3_000, batch: BATCH })).eventsPerS;
    const half = Math.round(max / 2);
    ctx.progress(`maximum ${Math.round(max).toLocaleString('en-US')} events/s; reads idle: warm-up, then ${RATE} req/s for ${READ_MS / 1000} s`);

    await server.call('heap'); // a full GC now rather than during the idle phase
    await paced(gqlUrl, bodies, RATE, 3_000);
    await server.call('eldStart');
    const { result: idle, p99: idleGen } = await watched(() => paced(gqlUrl, bodies, RATE, READ_MS));
    const idleEld = await server.call<Eld>('eldStop');
    const idleQ = percentiles(idle.latenciesMs, [50, 99, 99.9]);
    ctx.progress(`idle: p50 ${idleQ.p50.toFixed(2)} ms, p99 ${idleQ.p99.toFixed(2)} ms; event-loop delay p99 ${idleEld.p99.toFixed(2)} ms`);

    ctx.progress(`reads at ${RATE} req/s while ingesting ${half.toLocaleString('en-US')} events/s`);
    const writing = server.call<{ events: number; eventsPerS: number }>('ingestPaced', { rate: half, durationMs: READ_MS + 2_000, batch: BATCH });
    await new Promise((r) => setTimeout(r, 1_000));
    await server.call('eldStart');
    const { result: loaded, p99: loadedGen, max: loadedGenMax } = await watched(() => paced(gqlUrl, bodies, RATE, READ_MS));
    const loadedEld = await server.call<Eld>('eldStop');
    const ingested = await writing;
    const loadedQ = percentiles(loaded.latenciesMs, [50, 99, 99.9]);
    ctx.progress(`under load: p50 ${loadedQ.p50.toFixed(2)} ms, p99 ${loadedQ.p99.toFixed(2)} ms; event-loop delay p99 ${loadedEld.p99.toFixed(2)} ms; ingested ${Math.round(ingested.eventsPerS).toLocaleString('en-US')} events/s`);

    ctx.record({
      metric: `onlineFeatures 1 x 10 at ${RATE.toLocaleString('en-US')} req/s, p99 while ingesting ${Math.round(ingested.eventsPerS).toLocaleString('en-US')} events/s (half of ${Math.round(max).toLocaleString('en-US')}; server CPU ${pct(loadedEld.cpu)}); p50 ${loadedQ.p50.toFixed(2)} ms, p99.9 ${loadedQ['p99.9'].toFixed(2)} ms`,
      unit: 'ms',
      tally: loadedQ.p99,
      yardstick: idleQ.p99,
      yardstickName: `same server idle (p50 ${idleQ.p50.toFixed(2)} ms, p99.9 ${idleQ['p99.9'].toFixed(2)} ms; server CPU ${pct(idleEld.cpu)})`,
      higherIsBetter: false,
      budget: '<= 2x idle p99',
      budgetRatio: 0.5,
    });
    ctx.record({
      metric: `server event-loop delay p99 while ingesting at half its maximum and reading at ${RATE.toLocaleString('en-US')} req/s (p50 ${loadedEld.p50.toFixed(2)} ms, max ${loadedEld.max.toFixed(1)} ms)`,
      unit: 'ms',
      tally: loadedEld.p99,
      yardstick: idleEld.p99,
      yardstickName: `same server, reads only (max ${idleEld.max.toFixed(1)} ms)`,
      higherIsBetter: false,
      budget: '<= 5 ms',
      budgetAbs: 5,
    });
    ctx.progress(`reads at ${RATE} req/s while ingesting a quarter of the maximum (no budget)`);
    const quarterWriting = server.call<{ eventsPerS: number }>('ingestPaced', { rate: Math.round(max / 4), durationMs: READ_MS + 2_000, batch: BATCH });
    await new Promise((r) => setTimeout(r, 1_000));
    await server.call('eldStart');
    const quarter = await paced(gqlUrl, bodies, RATE, READ_MS);
    const quarterEld = await server.call<Eld>('eldStop');
    const quarterIngested = await quarterWriting;
    const quarterQ = percentiles(quarter.latenciesMs, [50, 99, 99.9]);
    ctx.record({
      metric: `onlineFeatures 1 x 10 at ${RATE.toLocaleString('en-US')} req/s, p99 while ingesting ${Math.round(quarterIngested.eventsPerS).toLocaleString('en-US')} events/s (a quarter of the maximum; server CPU ${pct(quarterEld.cpu)}, event-loop delay p99 ${quarterEld.p99.toFixed(2)} ms); p50 ${quarterQ.p50.toFixed(2)} ms`,
      unit: 'ms',
      tally: quarterQ.p99,
      yardstick: idleQ.p99,
      yardstickName: 'same server idle',
      higherIsBetter: false,
    });

    ctx.progress('one more loaded phase (4 s) under the CPU profiler, not counted');
    const profWriting = server.call('ingestPaced', { rate: half, durationMs: 4_500, batch: BATCH });
    await server.call('profileStart');
    await paced(gqlUrl, bodies, RATE, 4_000);
    const { top } = await server.call<{ top: string[] }>('profileStop');
    await profWriting;
    ctx.note(`CPU profile of the server while ingesting at half its maximum and reading at ${RATE.toLocaleString('en-US')} req/s, functions with the most self time: ${top.join('; ')}.`);
    ctx.note(
      `Load generator (the benchmark's process, same 2 cores): its own event-loop delay p99 was ${idleGen.toFixed(2)} ms in the idle phase and ${loadedGen.toFixed(2)} ms (max ${loadedGenMax.toFixed(1)} ms) under load; that much of a read's measured latency can be the generator's. The maximum ingest rate is measured on the filled state (${Math.round(fill).toLocaleString('en-US')} events/s while the state was first filled).`,
    );
    const errors = idle.errors + loaded.errors;
    if (errors > 0) ctx.note(`${errors} reads failed or went unanswered.`);
    ctx.note(
      `State: ${CARDS.toLocaleString('en-US')} cards, 10 windows of 4 features and a merchant leaderboard. Ingest runs inside the server through its ingest path, ${BATCH} events per call, one call per turn of the event loop (HTTP ingest calls and Kafka batches larger than 200 events are applied in slices of 200 with a turn of the loop in between); reads are POSTs of one query text with variables, sent open loop by the benchmark's process (32 keep-alive sockets). Event-loop delay: monitorEventLoopDelay in the server during each ${READ_MS / 1000} s read phase.`,
    );
  } finally {
    await server.stop();
  }
}
