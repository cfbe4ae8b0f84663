// Geo engine against redis-server on the same machine in the same run, with 100k and 1M
// members in a 30 km x 30 km box around New York (uniform), member names of 12 digits:
// - position updates/s: GeoIndex.set (TTL on) vs Node + ioredis pipelining GEOADD x1000,
//   each update moving a random member by up to ~20 m (a car reporting about once a second),
//   and vs Debian's redis-benchmark pipelining GEOADD (C client, no Node cost);
// - the same updates through GeoCollection.set with 1,000 fences declared (circles and
//   rectangles of 0.1-1.5 km all over the box), i.e. the cost of fence detection;
// - 1 km radius queries with limit 10 at random centres: GeoIndex.search vs ioredis
//   pipelining GEOSEARCH ... FROMLONLAT ... BYRADIUS 1000 m ASC COUNT 10, plus p50/p99;
// - memory per point: V8 heap + ArrayBuffers growth (member strings included) of a GeoIndex
//   with a TTL vs the growth of Redis INFO used_memory for the same GEOADDs.
import { spawnSync } from 'node:child_process';
import { GeoCollection, GeoIndex, type FenceDef } from '../../src/geo/index.js';
import { findRedisBenchmark } from '../support/redis-server.js';
import { heapUsed, median, mulberry32, percentiles, redisUsedMemory, timeIt, type BenchContext } from './lib.js';

const SIZES = [100_000, 1_000_000];
const KEY = 'geo';
/** The box: 0.27 deg of latitude x 0.355 deg of longitude at 40.7 N, about 30 km x 30 km. */
const LAT0 = 40.58;
const LON0 = -74.15;
const DLAT = 0.27;
const DLON = 0.355;
/** Largest move per update in degrees (~20 m): a car at 70 km/h reporting once a second. */
const STEP = 0.0002;
/** Updates per timed call in the engine, and commands per ioredis pipeline (the brief's ~1000). */
const BATCH = 1_000;
/** GEOSEARCH commands per ioredis pipeline: each costs Redis ~0.1-1 ms, so 100 keep a batch short. */
const QUERY_BATCH = 100;
/** Engine queries per timed call. */
const ENGINE_QUERY_BATCH = 100;
/** Pre-drawn updates and query centres cycled through by the timed loops (a power of two for masking). */
const POOL = 1 << 18;
const FENCES = 1_000;
const TTL_MS = 10 * 60_000;
const T0 = Date.UTC(2026, 10, 25);
const RUNS = 3;

/** 12-digit zero-padded ids: flat strings, as decoded events carry, and the same bytes for Redis. */
const memberName = (i: number) => String(i).padStart(12, '0');

/** 1,000 fences spread over the box: half circles of 100-1500 m, half rectangles of ~0.9 km x 0.85 km. */
function makeFences(seed: number): FenceDef[] {
  const rnd = mulberry32(seed);
  const out: FenceDef[] = [];
  for (let i = 0; i < FENCES; i++) {
    const lat = LAT0 + rnd() * DLAT;
    const lon = LON0 + rnd() * DLON;
    if (i % 2 === 0) out.push({ name: `c${i}`, circle: { lat, lon, radiusMeters: 100 + rnd() * 1400 } });
    else out.push({ name: `p${i}`, polygon: [[lat, lon], [lat, lon + 0.01], [lat + 0.008, lon + 0.01], [lat + 0.008, lon]] });
  }
  return out;
}

/** V8 heap plus ArrayBuffer backing stores (where the index's typed arrays live), after GC. */
function memoryInUse(): number {
  heapUsed(); // forces GC
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

export default async function (ctx: BenchContext): Promise<void> {
  const { client, host, port } = await ctx.redis();
  ctx.note(
    'Engine rates are in-process calls on one core. GEOADD/GEOSEARCH yardsticks: Node + ioredis pipelines (the budget rows) and, ' +
      'for updates, redis-benchmark GEOADD -P 16 (C client, 50 connections; all members at one position, which costs Redis the same). ' +
      'Memory: engine = growth of V8 heap + ArrayBuffers while a GeoIndex (ttl 10m) takes n fresh members; Redis = used_memory growth for the same GEOADDs.',
  );

  for (const n of SIZES) {
    const label = n >= 1_000_000 ? `${n / 1_000_000}M` : `${n / 1000}k`;

    // Memory first, from a clean heap: the index is the only holder of its member strings.
    ctx.progress(`${label}: memory per point`);
    const engineBytes = (() => {
      const rnd = mulberry32(n);
      const before = memoryInUse();
      const index = new GeoIndex({ ttlMs: TTL_MS });
      for (let i = 0; i < n; i++) index.set(memberName(i), LAT0 + rnd() * DLAT, LON0 + rnd() * DLON, T0);
      const bytes = (memoryInUse() - before) / n;
      if (index.size !== n) throw new Error('unexpected size');
      return bytes;
    })();
    await client.flushall();
    const redisBefore = await redisUsedMemory(client);
    {
      const rnd = mulberry32(n);
      for (let i = 0; i < n; i += 10_000) {
        const pipe = client.pipeline();
        for (let j = i; j < Math.min(n, i + 10_000); j += 1000) {
          const args: (string | number)[] = [];
          for (let k = j; k < Math.min(n, j + 1000); k++) {
            const lat = LAT0 + rnd() * DLAT;
            args.push(LON0 + rnd() * DLON, lat, memberName(k));
          }
          pipe.geoadd(KEY, ...args);
        }
        await pipe.exec();
      }
    }
    const redisBytes = ((await redisUsedMemory(client)) - redisBefore) / n;
    ctx.record({
      metric: `bytes per geo point, ${label} points (engine: V8 heap + ArrayBuffers incl. member strings, TTL queue and grid; redis: used_memory delta)`,
      unit: 'bytes',
      tally: engineBytes,
      yardstick: redisBytes,
      yardstickName: 'redis-server GEOADD (zset, skiplist encoding)',
      higherIsBetter: false,
      budget: '<= 1x',
      budgetRatio: 1,
    });

    // The workload: home positions, then moves of up to STEP around them.
    const names = Array.from({ length: n }, (_, i) => memberName(i));
    const rnd = mulberry32(n);
    const homeLat = new Float64Array(n);
    const homeLon = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      homeLat[i] = LAT0 + rnd() * DLAT;
      homeLon[i] = LON0 + rnd() * DLON;
    }
    const moveRnd = mulberry32(7);
    const who = Int32Array.from({ length: POOL }, () => Math.floor(moveRnd() * n));
    const toLat = Float64Array.from(who, (k) => homeLat[k] + (moveRnd() - 0.5) * STEP);
    const toLon = Float64Array.from(who, (k) => homeLon[k] + (moveRnd() - 0.5) * STEP);
    const fill = (index: { set(m: string, lat: number, lon: number, ts: number): unknown }) => {
      for (let i = 0; i < n; i++) index.set(names[i], homeLat[i], homeLon[i], T0);
    };

    const plain: number[] = [];
    const fenced: number[] = [];
    let fenceEvents = 0;
    let fenceUpdates = 0;
    const fences = makeFences(11);
    for (let run = 0; run < RUNS; run++) {
      ctx.progress(`${label}: GeoIndex.set, run ${run + 1}/${RUNS}`);
      {
        const index = new GeoIndex({ ttlMs: TTL_MS });
        fill(index);
        let i = 0;
        plain.push(
          await timeIt(
            () => {
              for (let b = 0; b < BATCH; b++, i++) {
                const j = i & (POOL - 1);
                index.set(names[who[j]], toLat[j], toLon[j], T0 + i);
              }
            },
            { minMs: 1200, warmupMs: 200, opsPerCall: BATCH },
          ),
        );
      }
      ctx.progress(`${label}: GeoCollection.set with ${FENCES} fences, run ${run + 1}/${RUNS}`);
      {
        const collection = new GeoCollection({ name: 'drivers', ttlMs: TTL_MS, fences });
        fill(collection);
        let i = 0;
        fenced.push(
          await timeIt(
            () => {
              for (let b = 0; b < BATCH; b++, i++) {
                const j = i & (POOL - 1);
                fenceEvents += collection.set(names[who[j]], toLat[j], toLon[j], T0 + i).length;
              }
              fenceUpdates += BATCH;
            },
            { minMs: 1200, warmupMs: 200, opsPerCall: BATCH },
          ),
        );
      }
    }

    ctx.progress(`${label}: Node + ioredis pipelined GEOADD x${BATCH}`);
    let u = 0;
    const viaIoredis = await timeIt(
      async () => {
        const pipe = client.pipeline();
        for (let b = 0; b < BATCH; b++, u++) {
          const j = u & (POOL - 1);
          pipe.geoadd(KEY, toLon[j], toLat[j], names[who[j]]);
        }
        await pipe.exec();
      },
      { minMs: 2000, warmupMs: 300, opsPerCall: BATCH },
    );
    ctx.progress(`${label}: redis-benchmark GEOADD -P 16`);
    const viaBenchmark = geoaddRate(host, port, n >= 1_000_000 ? 400_000 : 600_000, n);

    ctx.record({
      metric: `position updates/s, ${label} points: GeoIndex.set (ttl on)`,
      unit: 'ops/s',
      tally: median(plain),
      runs: plain,
      yardstick: viaIoredis,
      yardstickName: `Node + ioredis, GEOADD pipelined x${BATCH}`,
      higherIsBetter: true,
      budget: '>= 1.5x',
      budgetRatio: 1.5,
    });
    ctx.record({
      metric: `position updates/s, ${label} points: GeoIndex.set vs redis-benchmark`,
      unit: 'ops/s',
      tally: median(plain),
      runs: plain,
      yardstick: viaBenchmark,
      yardstickName: 'redis-benchmark GEOADD -P 16 -c 50',
      higherIsBetter: true,
      budget: '>= 1.5x',
      budgetRatio: 1.5,
    });
    ctx.record({
      metric: `position updates/s, ${label} points, ${FENCES} fences: GeoCollection.set (fence events on ${((100 * fenceEvents) / Math.max(1, fenceUpdates)).toFixed(1)} per 100 updates)`,
      unit: 'ops/s',
      tally: median(fenced),
      runs: fenced,
      yardstick: viaIoredis,
      yardstickName: `Node + ioredis, GEOADD pipelined x${BATCH} (no fences)`,
      higherIsBetter: true,
      budget: '>= 1.5x',
      budgetRatio: 1.5,
    });
    // From the best run of each (least disturbed by other load on the machine), runs being interleaved.
    ctx.record({
      metric: `cost of fence detection per update, ${label} points, ${FENCES} fences (GeoCollection.set minus GeoIndex.set, best runs)`,
      unit: 'us',
      tally: Math.max(0, 1e6 / Math.max(...fenced) - 1e6 / Math.max(...plain)),
      higherIsBetter: false,
    });

    // Queries: the engine holds the same members at their home positions; so does Redis (re-added).
    ctx.progress(`${label}: 1 km radius queries, limit 10`);
    await client.del(KEY);
    for (let i = 0; i < n; i += 20_000) {
      const pipe = client.pipeline();
      for (let j = i; j < Math.min(n, i + 20_000); j += 1000) {
        const args: (string | number)[] = [];
        for (let k = j; k < Math.min(n, j + 1000); k++) args.push(homeLon[k], homeLat[k], names[k]);
        pipe.geoadd(KEY, ...args);
      }
      await pipe.exec();
    }
    if ((await client.zcard(KEY)) !== n) throw new Error('redis does not hold every member');
    const index = new GeoIndex({ ttlMs: TTL_MS });
    fill(index);
    const qRnd = mulberry32(13);
    const qLat = Float64Array.from({ length: POOL }, () => LAT0 + qRnd() * DLAT);
    const qLon = Float64Array.from({ length: POOL }, () => LON0 + qRnd() * DLON);
    const engineQ: number[] = [];
    let hits = 0;
    for (let run = 0; run < RUNS; run++) {
      let q = 0;
      engineQ.push(
        await timeIt(
          () => {
            for (let b = 0; b < ENGINE_QUERY_BATCH; b++, q++) hits += index.search(qLat[q & (POOL - 1)], qLon[q & (POOL - 1)], 1000, 10).length;
          },
          { minMs: 1000, warmupMs: 200, opsPerCall: ENGINE_QUERY_BATCH },
        ),
      );
    }
    if (hits === 0) throw new Error('no query hit anything');
    const latencies = new Float64Array(20_000);
    for (let q = 0; q < latencies.length; q++) {
      const t = process.hrtime.bigint();
      index.search(qLat[q], qLon[q], 1000, 10);
      latencies[q] = Number(process.hrtime.bigint() - t) / 1000;
    }
    const { p50, p99 } = percentiles(latencies, [50, 99]);
    let rq = 0;
    const redisQ = await timeIt(
      async () => {
        const pipe = client.pipeline();
        for (let b = 0; b < QUERY_BATCH; b++, rq++) pipe.geosearch(KEY, 'FROMLONLAT', qLon[rq & (POOL - 1)], qLat[rq & (POOL - 1)], 'BYRADIUS', 1000, 'm', 'ASC', 'COUNT', 10);
        await pipe.exec();
      },
      { minMs: 2000, warmupMs: 300, opsPerCall: QUERY_BATCH },
    );
    ctx.record({
      metric: `1 km radius queries/s, limit 10, ${label} points: GeoIndex.search (p50 ${p50.toFixed(1)} us, p99 ${p99.toFixed(1)} us incl. timer)`,
      unit: 'ops/s',
      tally: median(engineQ),
      runs: engineQ,
      yardstick: redisQ,
      yardstickName: `Node + ioredis, GEOSEARCH FROMLONLAT BYRADIUS 1000 m ASC COUNT 10 pipelined x${QUERY_BATCH}`,
      higherIsBetter: true,
      budget: '>= 3x',
      budgetRatio: 3,
    });
    await client.del(KEY);
  }
}

/**
 * requests/s of `redis-benchmark ... GEOADD geo <lon> <lat> __rand_int__`, called directly
 * (lib's redisBenchmark appends --csv after the arguments, where a custom command would take
 * it as one of its own).
 */
function geoaddRate(host: string, port: number, requests: number, keyspace: number): number {
  const bin = findRedisBenchmark();
  if (!bin) throw new Error('redis-benchmark was not found; it comes with Debian redis-server (package redis-tools).');
  const args = ['-h', host, '-p', String(port), '--csv', '-n', String(requests), '-r', String(keyspace), '-P', '16', '-c', '50', 'GEOADD', 'geo:rb', '-73.97', '40.72', '__rand_int__'];
  const res = spawnSync(bin, args, { encoding: 'utf8' });
  const line = res.stdout.split('\n').find((l) => l.startsWith('"GEOADD'));
  const rps = line ? Number([...line.matchAll(/"([^"]*)"/g)][1]?.[1]) : NaN;
  if (res.status !== 0 || !Number.isFinite(rps)) throw new Error(`redis-benchmark ${args.join(' ')} failed: ${res.stderr || res.stdout}`);
  return rps;
}
