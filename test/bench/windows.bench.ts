// Windowed counters: Tally's tiles against the Redis way of doing the same (per-bucket keys,
// pipelined INCRBY + EXPIRE, one pair per window and feature), in the same run.
import { FeatureStore, WindowedAggregator } from '../../src/features/index.js';
import { Router } from '../../src/ingest/router.js';
import { parsePipeline } from '../../src/pipeline/load.js';
import { heapUsed, makeZipf, median, mulberry32, redisUsedMemory, timeIt, type BenchContext } from './lib.js';

const ENTITIES = 100_000;
const WINDOWS = [
  { label: '1m', ms: 60_000 },
  { label: '1h', ms: 3_600_000 },
  { label: '24h', ms: 86_400_000 },
];
/** Events per timed call; event time advances 10 ms per event, so tiles roll over as in production. */
const BATCH = 1_000;
const REDIS_BATCH = 500;

export default async function (ctx: BenchContext): Promise<void> {
  const { client } = await ctx.redis();
  const zipf = makeZipf(ENTITIES, 1.0, 7);
  const rand = mulberry32(11);
  const POOL = 1 << 18;
  const entityOf = Int32Array.from({ length: POOL }, zipf);
  const amountOf = Int32Array.from({ length: POOL }, () => 1 + Math.floor(rand() * 10_000));
  const keys = Array.from({ length: ENTITIES }, (_, i) => `card-${i}`);
  const t0 = Date.UTC(2026, 10, 25);

  ctx.progress('Tally: count + sum over 1m, 1h, 24h per event');
  const tallyRuns: number[] = [];
  const redisRuns: number[] = [];
  for (let run = 0; run < 5; run++) {
    const store = new FeatureStore([
      { name: 'n', aggregation: 'count', windows: WINDOWS },
      { name: 's', aggregation: 'sum', windows: WINDOWS },
    ]);
    let i = 0;
    tallyRuns.push(
      await timeIt(
        () => {
          for (let b = 0; b < BATCH; b++, i++) {
            const k = i & (POOL - 1);
            const ts = t0 + i * 10;
            store.update('n', keys[entityOf[k]], 1, ts);
            store.update('s', keys[entityOf[k]], amountOf[k], ts);
          }
        },
        { minMs: 1000, opsPerCall: BATCH },
      ),
    );
    ctx.progress(`redis: pipelined INCRBY + EXPIRE per bucket key, run ${run + 1}/5`);
    let j = 0;
    redisRuns.push(
      await timeIt(
        async () => {
          const p = client.pipeline();
          for (let b = 0; b < REDIS_BATCH; b++, j++) {
            const k = j & (POOL - 1);
            const ts = t0 + j * 10;
            const e = keys[entityOf[k]];
            for (const w of WINDOWS) {
              // The usual pattern: one key per (feature, entity, bucket); bucket = window / 60.
              const bucketMs = w.ms / 60;
              const bucket = Math.floor(ts / bucketMs);
              const ttl = Math.ceil((w.ms + bucketMs) / 1000);
              const nk = `n:${w.label}:${e}:${bucket}`;
              const sk = `s:${w.label}:${e}:${bucket}`;
              p.incrby(nk, 1).expire(nk, ttl);
              p.incrby(sk, amountOf[k]).expire(sk, ttl);
            }
          }
          await p.exec();
        },
        { minMs: 1500, opsPerCall: REDIS_BATCH },
      ),
    );
  }
  ctx.record({
    metric: 'events/s, count + sum x 3 windows, 100k entities zipf 1.0',
    unit: 'events/s',
    tally: median(tallyRuns),
    runs: tallyRuns,
    yardstick: median(redisRuns),
    yardstickName: 'redis INCRBY+EXPIRE per bucket key, pipelined x500 events (12 commands/event)',
    higherIsBetter: true,
    budget: '>= 10x',
    budgetRatio: 10,
  });

  ctx.progress('memory: one count feature x 4 windows');
  const windows4 = [...WINDOWS, { label: '5m', ms: 300_000 }];
  for (const eventsPerEntity of [1, 10]) {
    const { bytes, entities, slots } = bytesPerEntity(keys, windows4, eventsPerEntity, t0);
    ctx.progress(`redis memory for the same events (${eventsPerEntity}/entity), per-bucket keys with TTL`);
    const redisBytes = await redisBytesPerEntity(client, keys, windows4, eventsPerEntity, t0);
    ctx.record({
      metric: `bytes per entity, count x 4 windows, ${eventsPerEntity} event(s)/entity on average over 1h (keys excluded; ${entities.toLocaleString('en-US')} entities)`,
      unit: 'bytes',
      tally: bytes,
      yardstick: redisBytes,
      yardstickName: 'redis used_memory delta, INCRBY+EXPIRE per bucket key (window/60 buckets)',
      higherIsBetter: false,
      budget: '<= 200 bytes',
      budgetAbs: 200,
    });
    ctx.note(
      `Memory at ${eventsPerEntity} event(s) per entity: ${slots.toFixed(1)} slots per entity on average (the newest event time, a tile count per series, then two doubles per non-empty tile: its index and its count), ${(slots * 8).toFixed(0)} bytes in an unboxed double array; the other ${(bytes - slots * 8).toFixed(0)} bytes are the array's headers and the Map entry. ` +
        (bytes > 200 ? 'Getting under 200 bytes with this many tiles would need narrower tiles than two doubles (e.g. 32-bit tile offsets and counts), which the engine does not have.' : ''),
    );
  }

  await filterCost(ctx, keys, entityOf, amountOf, t0);
  await topkCost(ctx, keys, entityOf, amountOf, t0);

  for (const aggregation of ['distinct', 'quantile'] as const) {
    ctx.progress(`update rate: ${aggregation}`);
    const f = new WindowedAggregator({ name: aggregation, aggregation, quantile: 0.95, windows: [{ label: '1h', ms: 3_600_000 }, { label: '24h', ms: 86_400_000 }] });
    let i = 0;
    const rate = await timeIt(
      () => {
        for (let b = 0; b < BATCH; b++, i++) {
          const k = i & (POOL - 1);
          f.update(keys[entityOf[k]], aggregation === 'distinct' ? `m-${amountOf[k] % 500}` : amountOf[k], t0 + i * 10);
        }
      },
      { minMs: 1000, opsPerCall: BATCH },
    );
    ctx.record({ metric: `${aggregation} updates/s (2 windows, 100k entities zipf 1.0)`, unit: 'events/s', tally: rate, higherIsBetter: true });
  }
}

/**
 * The cost of `where:` filters on ingest: the router (decode of a parsed event, keys, filter)
 * and the stores, for count + sum over the three windows, with no filter and with one filter
 * per feature that every event passes (so the stores do the same work). Runs alternate.
 */
async function filterCost(ctx: BenchContext, keys: string[], entityOf: Int32Array, amountOf: Int32Array, t0: number): Promise<void> {
  const windows = '[1m, 1h, 24h]';
  const pipelineOf = (where: string) =>
    parsePipeline(`
sources: [{ name: tx, timestamp: ts, lateness: 1d }]
features:
  - { name: n, source: tx, entity: card, aggregation: count, windows: ${windows}${where} }
  - { name: s, source: tx, entity: card, aggregation: sum, field: amount, windows: ${windows}${where} }
`);
  const POOL = entityOf.length;
  const events = Array.from({ length: POOL }, (_, k) => ({ card: keys[entityOf[k]], amount: amountOf[k], status: k % 7 === 0 ? 'declined' : 'approved', country: 'FR', ts: 0 }));
  const variants = [
    { name: 'no filter', pipeline: pipelineOf('') },
    { name: 'one filter per feature', pipeline: pipelineOf(`, where: 'amount > 0 && country != "US"'`) },
  ];
  const runs: number[][] = [[], []];
  for (let run = 0; run < 5; run++) {
    for (const [v, variant] of variants.entries()) {
      ctx.progress(`ingest with ${variant.name}, run ${run + 1}/5`);
      const router = new Router(variant.pipeline);
      const store = new FeatureStore(variant.pipeline.features.map((f) => ({ name: f.name, aggregation: f.aggregation, windows: f.windows })));
      let i = 0;
      runs[v].push(
        await timeIt(
          () => {
            for (let b = 0; b < BATCH; b++, i++) {
              const e = events[i & (POOL - 1)];
              const ts = t0 + i * 10;
              e.ts = ts;
              const r = router.routeShared('tx', e, ts);
              if (r.ok) for (const u of r.updates) if (u.store === 'feature') store.update(u.name, u.entity, u.value, r.ts);
            }
          },
          { minMs: 1000, opsPerCall: BATCH },
        ),
      );
    }
  }
  ctx.record({
    metric: 'ingest events/s (route + count + sum x 3 windows) with one where: filter per feature, against none',
    unit: 'events/s',
    tally: median(runs[1]),
    runs: runs[1],
    yardstick: median(runs[0]),
    yardstickName: 'the same ingest without filters',
    higherIsBetter: true,
    budget: '>= 0.85x (filters cost <= 15 %)',
    budgetRatio: 0.85,
  });
}

/**
 * A topk feature against a count feature on the same events, through the router (decode,
 * keys, weight) and the store: heavy hitters by amount per card over 1h and 24h, k = 10
 * (tiles of capacity 40). Merchants are drawn from 500, the most active cards overrun their
 * tiles (evictions). Runs alternate. Then the read rate of the top 10 over 1h.
 */
async function topkCost(ctx: BenchContext, keys: string[], entityOf: Int32Array, amountOf: Int32Array, t0: number): Promise<void> {
  const pipelineOf = (feature: string) => parsePipeline(`
sources: [{ name: tx, timestamp: ts, lateness: 1d }]
features:
  - { name: f, source: tx, entity: card, windows: [1h, 24h], ${feature} }
`);
  const POOL = entityOf.length;
  const rand = mulberry32(23);
  const merchantZipf = makeZipf(500, 1.0, 5);
  const events = Array.from({ length: POOL }, (_, k) => ({ card: keys[entityOf[k]], merchant: `m-${merchantZipf()}`, amount: amountOf[k] / 100, ts: 0, r: rand() }));
  const variants = [
    { name: 'count', pipeline: pipelineOf('aggregation: count') },
    { name: 'topk', pipeline: pipelineOf('aggregation: topk, field: merchant, weight: amount, k: 10') },
  ];
  const runs: number[][] = [[], []];
  let topStore: FeatureStore | undefined;
  for (let run = 0; run < 5; run++) {
    for (const [v, variant] of variants.entries()) {
      ctx.progress(`ingest of a ${variant.name} feature, run ${run + 1}/5`);
      const router = new Router(variant.pipeline);
      const store = new FeatureStore(variant.pipeline.features.map((f) => ({ name: f.name, aggregation: f.aggregation, k: f.k, windows: f.windows })));
      let i = 0;
      runs[v].push(
        await timeIt(
          () => {
            for (let b = 0; b < BATCH; b++, i++) {
              const e = events[i & (POOL - 1)];
              const ts = t0 + i * 10;
              e.ts = ts;
              const r = router.routeShared('tx', e, ts);
              if (r.ok) for (const u of r.updates) if (u.store === 'feature') store.update(u.name, u.entity, u.value, r.ts, u.weight);
            }
          },
          { minMs: 1000, opsPerCall: BATCH },
        ),
      );
      if (v === 1) topStore = store;
    }
  }
  ctx.record({
    metric: 'ingest events/s (route + topk by amount, k 10, x 1h, 24h), against a count feature',
    unit: 'events/s',
    tally: median(runs[1]),
    runs: runs[1],
    yardstick: median(runs[0]),
    yardstickName: 'the same ingest into a count feature',
    higherIsBetter: true,
  });
  // Reads of the last run's state: the top 10 of the hour, for cards drawn as events are.
  const store = topStore!;
  const now = t0 + 3_600_000;
  let j = 0;
  let listed = 0;
  const reads = await timeIt(
    () => {
      for (let b = 0; b < BATCH; b++, j++) listed += store.read('f', keys[entityOf[j & (POOL - 1)]], '1h', now).top!.items.length;
    },
    { minMs: 1000, opsPerCall: BATCH },
  );
  ctx.record({ metric: 'topk reads/s: the top 10 of 1h (30 tiles), cards drawn zipf 1.0', unit: 'reads/s', tally: reads, higherIsBetter: true });
  ctx.note(`topk: ${(listed / j).toFixed(1)} items listed per read on average; a read merges the window's Space-Saving tiles (the union of their items) and keeps the k + 1 heaviest.`);
}

/** Heap per entity of one count feature; in its own frame so that nothing of it outlives the measurement. */
function bytesPerEntity(keys: string[], windows: { label: string; ms: number }[], eventsPerEntity: number, t0: number): { bytes: number; entities: number; slots: number } {
  const before = heapUsed();
  const f = new WindowedAggregator({ name: 'm', aggregation: 'count', windows });
  const zipf = makeZipf(keys.length, 1.0, 3);
  const cdfBytes = heapUsed() - before;
  // Every entity gets one event; the rest follow the zipf law, spread over one hour.
  for (let e = 0; e < keys.length; e++) f.update(keys[e], 1, t0 + e);
  const extra = keys.length * (eventsPerEntity - 1);
  for (let i = 0; i < extra; i++) f.update(keys[zipf()], 1, t0 + Math.floor((i / extra) * 3_600_000));
  const bytes = (heapUsed() - before - cdfBytes) / f.size;
  let slots = 0;
  for (const [, s] of f.entries()) slots += s.length;
  return { bytes, entities: f.size, slots: slots / f.size };
}

/** Redis memory per entity for the same events stored the usual way (one counter key per window bucket). */
async function redisBytesPerEntity(client: import('ioredis').Redis, keys: string[], windows: { label: string; ms: number }[], eventsPerEntity: number, t0: number): Promise<number> {
  await client.flushall();
  const before = await redisUsedMemory(client);
  const zipf = makeZipf(keys.length, 1.0, 3);
  const extra = keys.length * (eventsPerEntity - 1);
  const total = keys.length + extra;
  let p = client.pipeline();
  for (let i = 0; i < total; i++) {
    const key = i < keys.length ? keys[i] : keys[zipf()];
    const ts = i < keys.length ? t0 + i : t0 + Math.floor(((i - keys.length) / extra) * 3_600_000);
    for (const w of windows) {
      const bucketMs = w.ms / 60;
      const k = `n:${w.label}:${key}:${Math.floor(ts / bucketMs)}`;
      p.incrby(k, 1).expire(k, Math.ceil((w.ms + bucketMs) / 1000) + 86_400);
    }
    if (i % 2_000 === 1_999) {
      await p.exec();
      p = client.pipeline();
    }
  }
  await p.exec();
  const bytes = ((await redisUsedMemory(client)) - before) / keys.length;
  await client.flushall();
  return bytes;
}
