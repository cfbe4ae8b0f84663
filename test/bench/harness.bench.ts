// Proves the benchmark harness end to end (redis yardstick, timing, percentiles, memory):
// an in-process Map against redis-server for the same key/value writes.
import { heapUsed, makeZipf, median, percentiles, redisBenchmark, redisUsedMemory, timeIt, type BenchContext } from './lib.js';

const KEYS = 100_000;
const BATCH = 1_000;

export default async function (ctx: BenchContext): Promise<void> {
  const { client } = await ctx.redis();
  const keys = Array.from({ length: KEYS }, (_, i) => `user:${i}`);
  const next = makeZipf(KEYS, 1.0, 42);
  const picks = Int32Array.from({ length: BATCH * 16 }, next);

  ctx.progress('Map.set vs pipelined redis SET');
  const map = new Map<string, number>();
  let j = 0;
  const mapRuns: number[] = [];
  const redisRuns: number[] = [];
  for (let run = 0; run < 3; run++) {
    mapRuns.push(
      await timeIt(
        () => {
          for (let i = 0; i < BATCH; i++) map.set(keys[picks[j++ & (picks.length - 1)]!]!, i);
        },
        { minMs: 300, opsPerCall: BATCH },
      ),
    );
    redisRuns.push(
      await timeIt(
        async () => {
          const p = client.pipeline();
          for (let i = 0; i < BATCH; i++) p.set(keys[picks[j++ & (picks.length - 1)]!]!, String(i));
          await p.exec();
        },
        { minMs: 1000, opsPerCall: BATCH },
      ),
    );
  }
  ctx.record({
    metric: `SET, ${KEYS.toLocaleString('en-US')} keys, zipf 1.0`,
    unit: 'ops/s',
    tally: median(mapRuns),
    runs: mapRuns,
    yardstick: median(redisRuns),
    yardstickName: `redis SET pipelined x${BATCH}`,
    higherIsBetter: true,
    budget: '>= 3x',
    budgetRatio: 3,
  });

  ctx.progress('redis-benchmark SET -P 16 (C client, for scale)');
  const rps = await redisBenchmark(['-t', 'set', '-n', '200000', '-P', '16', '-r', String(KEYS), '-d', '8']);
  ctx.note(`redis-benchmark SET -P 16 (C client, same server): ${Math.round(rps).toLocaleString('en-US')} req/s; the ioredis pipeline above is bound by the Node client.`);

  ctx.progress('Map.get latency');
  const lat = new Float64Array(100_000);
  let sink = 0;
  for (let i = 0; i < lat.length; i++) {
    const t0 = performance.now();
    sink += map.get(keys[picks[i & (picks.length - 1)]!]!) ?? 0;
    lat[i] = (performance.now() - t0) * 1000;
  }
  const { p50, p99 } = percentiles(lat);
  ctx.record({ metric: 'Map.get p50 (incl. timer)', unit: 'us', tally: p50, higherIsBetter: false });
  ctx.record({ metric: 'Map.get p99 (incl. timer)', unit: 'us', tally: p99, higherIsBetter: false, budget: '<= 10 us', budgetAbs: 10 });

  ctx.progress('memory per key');
  await client.flushall();
  map.clear();
  const heap0 = heapUsed();
  const redis0 = await redisUsedMemory(client);
  for (let i = 0; i < KEYS; i += BATCH) {
    const p = client.pipeline();
    for (let k = i; k < i + BATCH; k++) {
      map.set(keys[k]!, k);
      p.set(keys[k]!, String(k));
    }
    await p.exec();
  }
  const heapPerKey = (heapUsed() - heap0) / KEYS;
  const redisPerKey = ((await redisUsedMemory(client)) - redis0) / KEYS;
  ctx.record({
    metric: 'memory per key (Map entry vs redis string key)',
    unit: 'B',
    tally: heapPerKey,
    yardstick: redisPerKey,
    yardstickName: 'redis used_memory',
    higherIsBetter: false,
    budget: "<= Redis's",
    budgetRatio: 1,
  });
  ctx.note(`Key strings are shared with the benchmark's key array, so the Map row counts only its entries (sink ${sink > 0 ? 'ok' : '0'}).`);
}
