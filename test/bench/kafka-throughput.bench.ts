// Kafka -> state throughput of one instance. N events are produced once to a 3-partition
// topic on the project's own broker (scripts/kafka/broker.ts); then, each in its own consumer
// group reading the topic from the beginning:
//
// - Tally (in-process, the real app and its Kafka ingest) applies them to its stores: count and
//   sum per card over 1m, 1h and 24h, plus a leaderboard of merchants by amount;
// - a kafkajs consumer with Tally's client settings and a no-op eachBatch (the ceiling: what
//   fetching and decoding the batches costs);
// - a kafkajs consumer applying the same updates to Redis: per event JSON.parse, then per
//   window INCRBY + EXPIRE of the count bucket and INCRBYFLOAT + EXPIRE of the sum bucket, and
//   ZINCRBY of the merchant, one pipeline per batch awaited before the next batch.
//
// Each is timed from its first batch to its last event applied (the group join is not
// counted), so all three pay the same fetches from the same broker on the same 2 cores.
import { Kafka, logLevel, type Consumer } from 'kafkajs';
import { startKafka } from '../../scripts/kafka/broker.js';
import { distModule, startDistTally, topSelfTime } from './dist-app.js';
import { makeZipf, median, mulberry32, type BenchContext } from './lib.js';

const EVENTS = 500_000;
const CARDS = 100_000;
const MERCHANTS = 1_000;
const TOPIC = 'transactions';
const PARTITIONS = 3;
const RUNS = 5;
const TIMEOUT_MS = 180_000;
/** The Redis consumer is timed over the first events only: at its rate the whole topic would take minutes. */
const REDIS_EVENTS = 100_000;
const WINDOWS = [
  { label: '1m', ms: 60_000 },
  { label: '1h', ms: 3_600_000 },
  { label: '24h', ms: 86_400_000 },
];

const PIPELINE = `
sources:
  - { name: transactions, topic: ${TOPIC}, timestamp: ts, lateness: 1d }
features:
  - { name: card_txn_count, source: transactions, entity: card_id, aggregation: count, windows: [1m, 1h, 24h] }
  - { name: card_amount_sum, source: transactions, entity: card_id, aggregation: sum, field: amount, windows: [1m, 1h, 24h] }
leaderboards:
  - { name: top_merchants, source: transactions, member: merchant_id, score: amount, mode: incr, period: all }
`;

/** The client Tally's Kafka ingest builds (src/ingest/kafka-ingest.ts), with the same consumer options. */
function tallyLikeConsumer(brokers: string, groupId: string): Consumer {
  const kafka = new Kafka({ clientId: 'bench', brokers: [brokers], logLevel: logLevel.NOTHING, retry: { retries: 8 } });
  return kafka.consumer({ groupId, maxWaitTimeInMs: 100, sessionTimeout: 30_000, heartbeatInterval: 3_000 });
}

async function produce(brokers: string, ctx: BenchContext): Promise<number> {
  const kafka = new Kafka({ clientId: 'bench-producer', brokers: [brokers], logLevel: logLevel.NOTHING, retry: { retries: 8 } });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic: TOPIC, numPartitions: PARTITIONS }, { topic: `${TOPIC}.dlq`, numPartitions: 1 }], waitForLeaders: true });
  await admin.disconnect();
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  const zipf = makeZipf(CARDS, 1.0, 5);
  const rand = mulberry32(9);
  const t0 = Date.now() - EVENTS; // one event per ms, ending now: every window holds data
  const BATCH = 5_000;
  let bytes = 0;
  for (let i = 0; i < EVENTS; i += BATCH) {
    const messages = [];
    for (let j = i; j < Math.min(EVENTS, i + BATCH); j++) {
      const card = `card-${String(zipf()).padStart(6, '0')}`;
      const value = JSON.stringify({ card_id: card, amount: Math.round(rand() * 50_000) / 100, merchant_id: `m-${Math.floor(rand() * MERCHANTS)}`, ts: t0 + j });
      bytes += value.length;
      messages.push({ key: card, value });
    }
    await producer.send({ topic: TOPIC, acks: 1, messages });
    if ((i / BATCH) % 20 === 0) ctx.progress(`produced ${i.toLocaleString('en-US')} / ${EVENTS.toLocaleString('en-US')}`);
  }
  await producer.disconnect();
  return bytes / EVENTS;
}

interface Timed {
  eventsPerS: number;
  joinMs: number;
}

/** Runs a consumer over the whole topic; `apply` handles one batch of raw values. */
async function timeConsumer(brokers: string, groupId: string, apply: (values: (Buffer | null)[]) => Promise<void> | void, target = EVENTS): Promise<Timed> {
  const consumer = tallyLikeConsumer(brokers, groupId);
  const started = performance.now();
  let first = 0;
  let seen = 0;
  let finish!: (t: number) => void;
  const done = new Promise<number>((resolve) => (finish = resolve));
  await consumer.connect();
  await consumer.subscribe({ topics: [TOPIC], fromBeginning: true });
  await consumer.run({
    eachBatchAutoResolve: false,
    autoCommit: false,
    eachBatch: async ({ batch, resolveOffset, heartbeat }) => {
      if (first === 0) first = performance.now();
      const values = batch.messages.map((m) => m.value);
      await apply(values);
      if (batch.messages.length > 0) resolveOffset(batch.lastOffset());
      seen += batch.messages.length;
      if (seen >= target) finish(performance.now());
      await heartbeat();
    },
  });
  const timer = setTimeout(() => finish(Number.NaN), TIMEOUT_MS);
  const end = await done;
  clearTimeout(timer);
  await consumer.disconnect();
  if (Number.isNaN(end)) throw new Error(`consumer ${groupId} saw ${seen} of ${target} events in ${TIMEOUT_MS / 1000} s`);
  return { eventsPerS: (seen * 1000) / (end - first), joinMs: first - started };
}

async function timeTally(brokers: string, groupId: string): Promise<Timed & { rejected: number }> {
  const started = performance.now();
  const tally = await startDistTally(PIPELINE, { KAFKA_BROKERS: brokers, KAFKA_GROUP_ID: groupId, TALLY_RATE_LIMIT: '0' });
  try {
    const { Metrics } = await distModule<typeof import('../../src/ops/metrics.js')>('ops/metrics.js');
    const metrics = tally.app.get(Metrics);
    const count = async (c: typeof metrics.eventsAccepted | typeof metrics.eventsRejected) => (await c.get()).values.reduce((n, v) => n + v.value, 0);
    let first = 0;
    const deadline = started + TIMEOUT_MS;
    for (;;) {
      const n = (await count(metrics.eventsAccepted)) + (await count(metrics.eventsRejected));
      const now = performance.now();
      if (n > 0 && first === 0) first = now;
      if (n >= EVENTS) return { eventsPerS: (EVENTS * 1000) / (now - first), joinMs: first - started, rejected: await count(metrics.eventsRejected) };
      if (now > deadline) throw new Error(`Tally applied ${n} of ${EVENTS} events in ${TIMEOUT_MS / 1000} s`);
      await new Promise((r) => setTimeout(r, 2));
    }
  } finally {
    await tally.close();
  }
}

export default async function (ctx: BenchContext): Promise<void> {
  const { client } = await ctx.redis();
  ctx.progress('starting the Kafka broker');
  const kafka = await startKafka();
  try {
    ctx.progress(`producing ${EVENTS.toLocaleString('en-US')} events to ${TOPIC} (${PARTITIONS} partitions)`);
    const avgBytes = await produce(kafka.brokers, ctx);

    const tallyRuns: number[] = [];
    const noopRuns: number[] = [];
    let rejected = 0;
    for (let run = 0; run < RUNS; run++) {
      const noop = await timeConsumer(kafka.brokers, `bench-noop-${run}`, () => undefined);
      noopRuns.push(noop.eventsPerS);
      ctx.progress(`run ${run + 1}/${RUNS}: no-op consumer ${Math.round(noop.eventsPerS).toLocaleString('en-US')} events/s`);
      const t = await timeTally(kafka.brokers, `bench-tally-${run}`);
      tallyRuns.push(t.eventsPerS);
      rejected += t.rejected;
      ctx.progress(`run ${run + 1}/${RUNS}: Tally ${Math.round(t.eventsPerS).toLocaleString('en-US')} events/s (group joined after ${(t.joinMs / 1000).toFixed(1)} s)`);
    }

    const ttlS = (w: { ms: number }) => Math.ceil((w.ms * 2) / 1000);
    ctx.progress('one more Tally run under the CPU profiler (not counted)');
    const profiled = await topSelfTime(() => timeTally(kafka.brokers, 'bench-tally-profiled'), 10);
    const parse = await timeConsumer(kafka.brokers, 'bench-parse', (values) => {
      for (const v of values) if (v) JSON.parse(v.toString());
    });
    ctx.progress(`JSON.parse-only consumer ${Math.round(parse.eventsPerS).toLocaleString('en-US')} events/s`);
    ctx.progress('Redis consumer: pipelined INCRBY/INCRBYFLOAT + EXPIRE per window bucket and ZINCRBY per batch');
    const redis = await timeConsumer(kafka.brokers, 'bench-redis', async (values) => {
      const p = client.pipeline();
      for (const v of values) {
        if (!v) continue;
        const e = JSON.parse(v.toString()) as { card_id: string; amount: number; merchant_id: string; ts: number };
        for (const w of WINDOWS) {
          // one key per (feature, entity, bucket); bucket = window / 60, as in the windows benchmark
          const bucket = Math.floor(e.ts / (w.ms / 60));
          const n = `n:${e.card_id}:${w.label}:${bucket}`;
          const s = `s:${e.card_id}:${w.label}:${bucket}`;
          p.incrby(n, 1).expire(n, ttlS(w)).incrbyfloat(s, e.amount).expire(s, ttlS(w));
        }
        p.zincrby('top_merchants', e.amount, e.merchant_id);
      }
      await p.exec();
    }, REDIS_EVENTS);
    ctx.progress(`Redis consumer ${Math.round(redis.eventsPerS).toLocaleString('en-US')} events/s`);

    const noopMedian = median(noopRuns);
    ctx.record({
      metric: `Kafka -> state, ${EVENTS.toLocaleString('en-US')} events, 3 partitions (${RUNS} runs; no-op client ${Math.round(Math.min(...noopRuns)).toLocaleString('en-US')}–${Math.round(Math.max(...noopRuns)).toLocaleString('en-US')})`,
      unit: 'events/s',
      tally: median(tallyRuns),
      runs: tallyRuns,
      yardstick: noopMedian,
      yardstickName: 'same kafkajs client, no-op eachBatch',
      higherIsBetter: true,
      budget: '>= 0.8x',
      budgetRatio: 0.8,
    });
    ctx.record({
      metric: `Kafka -> state, against the same client decoding each event (JSON.parse) and nothing else (1 run; no budget)`,
      unit: 'events/s',
      tally: median(tallyRuns),
      runs: tallyRuns,
      yardstick: parse.eventsPerS,
      yardstickName: 'same kafkajs client, JSON.parse per event',
      higherIsBetter: true,
    });
    ctx.record({
      metric: `Kafka -> state, against a consumer writing the same updates to Redis (1 run over the first ${REDIS_EVENTS.toLocaleString('en-US')} events)`,
      unit: 'events/s',
      tally: median(tallyRuns),
      runs: tallyRuns,
      yardstick: redis.eventsPerS,
      yardstickName: 'kafkajs + ioredis, 13 pipelined commands per event',
      higherIsBetter: true,
      budget: '>= 3x',
      budgetRatio: 3,
    });
    // What the 0.8x budget leaves per event, against what parsing alone costs (same run).
    const us = (eventsPerS: number) => 1e6 / eventsPerS;
    const allowed = us(0.8 * noopMedian) - us(noopMedian);
    const parsing = us(parse.eventsPerS) - us(noopMedian);
    const spent = us(median(tallyRuns)) - us(noopMedian);
    ctx.note(
      `Per event beyond what the no-op client spends fetching and decoding batches (${us(noopMedian).toFixed(2)} us): the 0.8x budget leaves ${allowed.toFixed(2)} us; JSON.parse alone took ${parsing.toFixed(2)} us in this run (the JSON.parse-only consumer reached ${(parse.eventsPerS / noopMedian).toFixed(2)}x of the no-op client), and Tally took ${spent.toFixed(2)} us (parse, route, lateness, windows, leaderboard). ${parsing >= allowed ? 'A single-threaded consumer that parses each event as JSON cannot meet the budget.' : ''}`.trim(),
    );
    ctx.note(
      `CPU profile of one more Tally run (${Math.round(profiled.result.eventsPerS).toLocaleString('en-US')} events/s under the profiler), functions with the most self time: ${profiled.top.join('; ')}.`,
    );
    ctx.note(
      `Events: JSON of about ${Math.round(avgBytes)} bytes (card_id, amount, merchant_id, ts), ${CARDS.toLocaleString('en-US')} cards (Zipf 1.0), ${MERCHANTS} merchants, keyed by card. Each event updates count and sum over 1m, 1h and 24h and a merchant leaderboard. Timed from a consumer's first batch to its last event applied; group joins are excluded. Tally runs in the benchmark's process; the broker's JVM shares the 2 cores with it.${rejected ? ` Tally refused ${rejected} events.` : ''}`,
    );
  } finally {
    await kafka.stop();
  }
}
