// Child process of test/bench/serving.bench.ts: the built Tally (dist/, compiled by tsc, since
// Nest's code-first GraphQL needs decorator metadata that tsx does not emit) with the pipeline
// of TALLY_PIPELINE, plus a bare node:http handler that answers onlineFeatures from the very
// same OnlineFeatures object with the same JSON. Prints one line `{"tally": url, "bare": url}`
// when both listen and the state is loaded; stops on SIGTERM or when stdin closes.
//
//   node test/bench/serving-server.mjs   (after `npm run build`)
//
// TALLY_BENCH_CARDS=n loads n card profiles and a day of their transactions (4 per card on
// average) through the app's own ingest path (router, lateness, stores; no HTTP), for the
// serving pipeline of serving.bench.ts.
// TALLY_BENCH_DIST=/abs/path/dist serves another build (an A/B comparison of two builds).
// With TALLY_BENCH_PROFILE_DIR set, SIGUSR2 starts a CPU profile and the next SIGUSR2 writes it
// there (open it in Chrome DevTools), so one serving phase can be profiled without start-up.
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { Session } from 'node:inspector/promises';

// TALLY_BENCH_DIST: another build to serve from (an absolute path), for A/B comparisons.
const dist = process.env.TALLY_BENCH_DIST ?? new URL('../../dist', import.meta.url).pathname;
const { baseUrl, createTally } = await import(`${dist}/bootstrap.js`);
const { OnlineFeatures } = await import(`${dist}/features/index.js`);
const { EventIngest } = await import(`${dist}/ingest/event-ingest.js`);
const { loadPipeline } = await import(`${dist}/pipeline/load.js`);
const { loadSettings } = await import(`${dist}/settings/settings.js`);

const settings = loadSettings({ ...process.env, PORT: '0', HOST: '127.0.0.1', KAFKA_BROKERS: '', TALLY_LOG_LEVEL: 'error' });
const app = await createTally({ settings, pipeline: loadPipeline(settings.pipelinePath) });
const online = app.get(OnlineFeatures);

const { mulberry32 } = await import(`${dist}/demo/random.js`);

async function loadCards(cards) {
  const ingest = app.get(EventIngest);
  const rand = mulberry32(2026);
  const now = Date.now();
  const HOUR = 3_600_000;
  const card = (i) => `card-${String(i).padStart(6, '0')}`;
  const send = async (source, events) => {
    for (let i = 0; i < events.length; i += 10_000) {
      const r = await ingest.ingest(source, events.slice(i, i + 10_000));
      if (r.rejected > 0) throw new Error(`${source}: ${r.rejected} events refused while loading: ${JSON.stringify(r.errors.slice(0, 3))}`);
    }
  };
  const profiles = [];
  for (let i = 0; i < cards; i++) {
    profiles.push({ card_id: card(i), credit_limit: [1000, 2500, 5000, 10000][i % 4], country: ['US', 'FR', 'DE', 'BR', 'JP'][i % 5], risk_tier: i % 3, blocked: i % 97 === 0, home_lat: 40 + rand() * 10, ts: now - 2 * HOUR });
  }
  await send('card_updates', profiles);
  const txns = [];
  for (let i = 0; i < cards; i++) {
    const n = Math.floor(rand() * 9); // 0-8, 4 on average
    for (let k = 0; k < n; k++) txns.push({ card_id: card(i), merchant_id: `m-${Math.floor(rand() * 5000)}`, amount: Math.round(rand() * 50_000) / 100, ts: now - Math.floor(rand() * 24 * HOUR) });
  }
  txns.sort((a, b) => a.ts - b.ts);
  await send('transactions', txns);
  return txns.length;
}

const started = performance.now();
const transactions = process.env.TALLY_BENCH_CARDS ? await loadCards(Number(process.env.TALLY_BENCH_CARDS)) : 0;
const loadSeconds = (performance.now() - started) / 1000;
// Loading leaves hundreds of MB of garbage; collect it now (node --expose-gc), as a server that
// has run for a while has, rather than in the middle of the first measurement.
if (typeof globalThis.gc === 'function') {
  globalThis.gc();
  globalThis.gc();
}

// The yardstick: read the same request body a GraphQL client sends, take its variables, answer
// the same JSON Tally does (ISO freshness, nulls), with no GraphQL in between.
const bare = createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const { variables } = JSON.parse(Buffer.concat(chunks).toString());
    const rows = online.fetch(variables.entities, variables.features, Date.now());
    const out = new Array(rows.length);
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i];
      out[i] = { entity: r.entity, values: r.values, freshness: r.freshness.map((t) => (t === null ? null : new Date(t).toISOString())) };
    }
    const body = JSON.stringify({ data: { onlineFeatures: out } });
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
});
await new Promise((resolve) => bare.listen(0, '127.0.0.1', resolve));

const profileDir = process.env.TALLY_BENCH_PROFILE_DIR;
if (profileDir) {
  const session = new Session();
  session.connect();
  let profiling = false;
  let n = 0;
  process.on('SIGUSR2', async () => {
    if (!profiling) {
      await session.post('Profiler.enable');
      await session.post('Profiler.start');
      profiling = true;
      return;
    }
    const { profile } = await session.post('Profiler.stop');
    profiling = false;
    writeFileSync(`${profileDir}/serving-${process.pid}-${++n}.cpuprofile`, JSON.stringify(profile));
  });
}

const stop = async () => {
  bare.close();
  await app.close();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.stdin.on('end', stop);
process.stdin.resume();
process.stdout.write(`${JSON.stringify({ tally: baseUrl(app), bare: `http://127.0.0.1:${bare.address().port}`, pid: process.pid, transactions, loadSeconds })}\n`);
