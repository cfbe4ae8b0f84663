// onlineFeatures over GraphQL against the "feature store on Redis" design: a Node HTTP service
// that keeps each entity's precomputed feature values in a Redis hash and answers the same
// request body with one HMGET per entity (pipelined), in the same JSON shape (values and
// freshness). Both run in child processes (test/bench/tally-server.mjs), with 100k cards, and
// take the same requests (1 card x 10 features, 100 cards x 10 features) from this process:
// latency at an even rate (open loop) and throughput at saturation (closed loop).
//
// The Redis design only reads: its values would be written by a separate streaming job, which
// is not charged here. Tally computes them from its windows at read time.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, startServerChild, type ServerChild } from './dist-app.js';
import { mulberry32, percentiles, redisUsedMemory, type BenchContext } from './lib.js';
import { closedLoop, paced } from './loopback-load.js';

const CARDS = 100_000;
const PACED_MS = 8_000;
const MAX_MS = 5_000;
const CONNECTIONS = 16;

const PIPELINE = `
sources:
  - { name: transactions, timestamp: ts, lateness: 1d }
features:
  - { name: card_txn_count, source: transactions, entity: card_id, aggregation: count, windows: [1m, 5m, 1h, 24h] }
  - { name: card_amount_sum, source: transactions, entity: card_id, aggregation: sum, field: amount, windows: [5m, 1h, 24h] }
  - { name: card_amount_max, source: transactions, entity: card_id, aggregation: max, field: amount, windows: [24h] }
  - { name: card_merchants, source: transactions, entity: card_id, aggregation: distinct, field: merchant_id, windows: [1h, 24h] }
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
const card = (i: number) => `card-${String(i).padStart(6, '0')}`;

function bodies(entities: number, seed: number): Buffer[] {
  const rand = mulberry32(seed);
  return Array.from({ length: 1024 }, () =>
    Buffer.from(JSON.stringify({ query: QUERY, operationName: 'Score', variables: { entities: Array.from({ length: entities }, () => card(Math.floor(rand() * CARDS))), features: FEATURES } })),
  );
}

export default async function (ctx: BenchContext): Promise<void> {
  const { client, port } = await ctx.redis();
  ctx.progress(`Redis: a hash of ${FEATURES.length} features (+ asOf) for each of ${CARDS.toLocaleString('en-US')} cards`);
  const memBefore = await redisUsedMemory(client);
  const rand = mulberry32(17);
  const now = Date.now();
  for (let i = 0; i < CARDS; i += 1000) {
    const p = client.pipeline();
    for (let k = i; k < i + 1000; k++) {
      const fields: (string | number)[] = ['asOf', now];
      for (const f of FEATURES) fields.push(f, Math.round(rand() * 100_000) / 100);
      p.hset(`f:${card(k)}`, ...fields);
    }
    await p.exec();
  }
  const redisBytes = ((await redisUsedMemory(client)) - memBefore) / CARDS;

  const tmp = join(ROOT, 'bench-results', 'tmp');
  mkdirSync(tmp, { recursive: true });
  const pipelinePath = join(tmp, 'serving-redis-pipeline.yaml');
  writeFileSync(pipelinePath, PIPELINE);
  ctx.progress('starting Tally and the Redis-backed service (child processes); filling Tally for 4 s');
  const tally = await startServerChild({ TALLY_PIPELINE: pipelinePath, TALLY_RATE_LIMIT: '0' });
  let redisSvc: ServerChild | undefined;
  try {
    redisSvc = await startServerChild({ TALLY_BENCH_REDIS_PORT: String(port) });
    const fill = await tally.call<{ eventsPerS: number }>('ingestMax', { durationMs: 4_000, batch: 1_000 });
    await tally.call('heap');
    const events = Math.round(fill.eventsPerS * 4);
    const targets = [
      ['Tally GraphQL', `${tally.url}/graphql`],
      ['Node + Redis HMGET', `${redisSvc.url}/`],
    ] as const;

    for (const [entities, rate] of [
      [1, 1_000],
      [100, 100],
    ] as const) {
      const shape = `${entities} x ${FEATURES.length}`;
      const pool = bodies(entities, entities);
      const lat: { p50: number; p99: number; errors: number }[] = [];
      const max: { rps: number; errors: number }[] = [];
      for (const [name, url] of targets) {
        ctx.progress(`${shape}, ${name}: warm-up, ${rate} req/s for ${PACED_MS / 1000} s, then ${CONNECTIONS} closed-loop connections for ${MAX_MS / 1000} s`);
        await paced(url, pool, rate, 2_000);
        const r = await paced(url, pool, rate, PACED_MS);
        const q = percentiles(r.latenciesMs, [50, 99]);
        lat.push({ p50: q.p50, p99: q.p99, errors: r.errors });
        await new Promise((res) => setTimeout(res, 500));
        max.push(await closedLoop(url, pool, CONNECTIONS, MAX_MS));
        ctx.progress(`${shape}, ${name}: p50 ${q.p50.toFixed(2)} ms, p99 ${q.p99.toFixed(2)} ms; ${Math.round(max[max.length - 1]!.rps).toLocaleString('en-US')} req/s at saturation`);
      }
      ctx.record({
        metric: `onlineFeatures ${shape}, p99 latency at ${rate.toLocaleString('en-US')} req/s paced (Tally p50 ${lat[0]!.p50.toFixed(2)} ms)`,
        unit: 'ms',
        tally: lat[0]!.p99,
        yardstick: lat[1]!.p99,
        yardstickName: `Node + Redis HMGET (p50 ${lat[1]!.p50.toFixed(2)} ms)`,
        higherIsBetter: false,
      });
      ctx.record({
        metric: `onlineFeatures ${shape}, throughput at saturation (${CONNECTIONS} connections)`,
        unit: 'req/s',
        tally: max[0]!.rps,
        yardstick: max[1]!.rps,
        yardstickName: 'Node + Redis HMGET',
        higherIsBetter: true,
      });
      const errors = lat.reduce((n, l) => n + l.errors, 0) + max.reduce((n, m) => n + m.errors, 0);
      if (errors > 0) ctx.note(`${shape}: ${errors} failed or unanswered requests.`);
    }
    ctx.note(
      `Tally holds ${CARDS.toLocaleString('en-US')} cards' windows after ${events.toLocaleString('en-US')} events and computes each value at read time; the Redis design reads precomputed values (${Math.round(redisBytes)} bytes of Redis memory per card for 10 values and a timestamp) that a streaming job would have to keep up to date, not charged here. The Redis design spends two processes (Node and redis-server) against Tally's one; the load generator shares the 2 cores.`,
    );
  } finally {
    await redisSvc?.stop();
    await tally.stop();
  }
}
