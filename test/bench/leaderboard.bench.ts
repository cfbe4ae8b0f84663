// Leaderboard engine against redis-server on the same machine in the same run:
// - ZINCRBY-equivalent updates on 100k and 1M members, uniform and Zipf(1.0), in the
//   engine vs Debian's redis-benchmark pipelining ZINCRBY (-P 16 and -P 64, __rand_int__
//   over a keyspace of the same size) and vs Node + ioredis pipelining the same updates;
// - rank read (ZREVRANK-equivalent) latency p99 on 1M members;
// - heap bytes per member vs the growth of Redis INFO used_memory for the same members.
// Both sides start from the same members and scores: redis-benchmark's 12-digit
// zero-padded __rand_int__ names and integer scores 0..99, so ties (broken on the member
// bytes) are as common as on a real points leaderboard.
import { spawnSync } from 'node:child_process';
import { Leaderboard, SortedSet } from '../../src/leaderboard/index.js';
import { findRedisBenchmark } from '../support/redis-server.js';
import { topSelfTime } from './dist-app.js';
import { heapUsed, makeZipf, median, mulberry32, percentiles, redisUsedMemory, timeIt, type BenchContext } from './lib.js';

const SIZES = [100_000, 1_000_000];
/** Budget ratio over the stronger redis-benchmark figure, per size (DESIGN.md). */
const BUDGET: Record<number, number> = { 100_000: 3, 1_000_000: 1.5 };
/** Updates per timed call in the engine: the clock is read once per batch. */
const BATCH = 1_000;
/** Commands per ioredis pipeline: large enough that round trips do not dominate. */
const IOREDIS_BATCH = 1_000;
/** Pre-drawn keys cycled through by the timed loops (a power of two for masking). */
const POOL = 1 << 20;
/** Rank reads per timed batch: ~1-3 us each, so a batch spans 100+ us, far above timer resolution. */
const RANK_BATCH = 100;
const RANK_BATCHES = 5_000;
const KEY = 'lb';
/** Scores 0..99: many ties, as integer points produce. */
const SCORE_RANGE = 100;

/** redis-benchmark's __rand_int__ text: 12 digits, zero-padded. */
const memberName = (i: number) => String(i).padStart(12, '0');

export default async function (ctx: BenchContext): Promise<void> {
  const { client, host, port } = await ctx.redis();
  ctx.note(
    'Engine rates are in-process calls (SortedSet.incr, and Leaderboard.update with periods and top-N change tracking); ' +
      'the redis-benchmark yardstick is the higher of -P 16 and -P 64 on a uniform __rand_int__ keyspace of the same size. ' +
      'Rank p99 is the p99 over batches of the mean call time within a batch of ' +
      `${RANK_BATCH} revRank calls (one call is below timer resolution).`,
  );

  let rankSet: SortedSet | undefined;
  let rankNames: string[] = [];
  for (const n of SIZES) {
    const label = n >= 1_000_000 ? `${n / 1_000_000}M` : `${n / 1000}k`;
    const names = Array.from({ length: n }, (_, i) => memberName(i));
    const rnd = mulberry32(n);
    const initial = Int32Array.from({ length: n }, () => Math.floor(rnd() * SCORE_RANGE));
    const uniform = mulberry32(99);
    const keys = {
      uniform: Int32Array.from({ length: POOL }, () => Math.floor(uniform() * n)),
      zipf: Int32Array.from({ length: POOL }, makeZipf(n, 1.0, 5)),
    };

    ctx.progress(`${label}: filling the engine and redis with the same ${label} members`);
    const fill = () => {
      const set = new SortedSet();
      for (let i = 0; i < n; i++) set.set(names[i], initial[i]);
      return set;
    };
    await client.del(KEY);
    for (let i = 0; i < n; i += 10_000) {
      const args: (string | number)[] = [];
      for (let j = i; j < Math.min(n, i + 10_000); j++) args.push(initial[j], names[j]);
      await client.zadd(KEY, ...args);
    }

    const engine: Record<string, number[]> = { uniform: [], zipf: [] };
    const board: number[] = [];
    const rb: Record<number, number[]> = { 16: [], 64: [] };
    // Engine and redis-benchmark runs alternate, so a change in machine load hits both.
    for (let run = 0; run < 3; run++) {
      for (const dist of ['uniform', 'zipf'] as const) {
        ctx.progress(`${label}: engine SortedSet.incr, ${dist}, run ${run + 1}/3`);
        const set = fill();
        const k = keys[dist];
        let i = 0;
        engine[dist].push(
          await timeIt(
            () => {
              for (let b = 0; b < BATCH; b++, i++) set.incr(names[k[i & (POOL - 1)]], 1);
            },
            { minMs: 1200, warmupMs: 200, opsPerCall: BATCH },
          ),
        );
        if (dist === 'uniform' && n === SIZES[SIZES.length - 1] && run === 0) {
          rankSet = set;
          rankNames = names;
        }
      }
      ctx.progress(`${label}: engine Leaderboard.update (mode incr, period day), uniform, run ${run + 1}/3`);
      const lb = new Leaderboard({ name: 'bench', mode: 'incr', period: 'day' });
      const t0 = Date.UTC(2026, 10, 25);
      for (let i = 0; i < n; i++) lb.update(names[i], initial[i], t0);
      let i = 0;
      const k = keys.uniform;
      board.push(
        await timeIt(
          () => {
            for (let b = 0; b < BATCH; b++, i++) lb.update(names[k[i & (POOL - 1)]], 1, t0 + (i & 0xffff));
          },
          { minMs: 1200, warmupMs: 200, opsPerCall: BATCH },
        ),
      );
      for (const p of [16, 64]) {
        ctx.progress(`${label}: redis-benchmark ZINCRBY -P ${p}, run ${run + 1}/3`);
        rb[p].push(zincrbyRate(host, port, n >= 1_000_000 ? 200_000 : 400_000, n, p));
      }
    }
    const rb16 = median(rb[16]);
    const rb64 = median(rb[64]);
    const redisBest = Math.max(rb16, rb64);
    const redisName = `redis-benchmark ZINCRBY, median of 3 runs, -P ${rb64 >= rb16 ? 64 : 16} (-P 16: ${Math.round(rb16).toLocaleString('en-US')}, -P 64: ${Math.round(rb64).toLocaleString('en-US')})`;

    const viaIoredis: Record<string, number> = {};
    for (const dist of ['uniform', 'zipf'] as const) {
      ctx.progress(`${label}: Node + ioredis pipelined ZINCRBY, ${dist}`);
      const k = keys[dist];
      let i = 0;
      viaIoredis[dist] = await timeIt(
        async () => {
          const pipe = client.pipeline();
          for (let b = 0; b < IOREDIS_BATCH; b++, i++) pipe.zincrby(KEY, 1, names[k[i & (POOL - 1)]]);
          await pipe.exec();
        },
        { minMs: 1500, warmupMs: 200, opsPerCall: IOREDIS_BATCH },
      );
    }

    ctx.record({
      metric: `ZINCRBY-equivalent updates/s, ${label} members, uniform: SortedSet.incr`,
      unit: 'ops/s',
      tally: median(engine.uniform),
      runs: engine.uniform,
      yardstick: redisBest,
      yardstickName: redisName,
      higherIsBetter: true,
      budget: `>= ${BUDGET[n]}x`,
      budgetRatio: BUDGET[n],
    });
    ctx.record({
      metric: `ZINCRBY-equivalent updates/s, ${label} members, uniform: Leaderboard.update (day period, change tracking)`,
      unit: 'ops/s',
      tally: median(board),
      runs: board,
      yardstick: redisBest,
      yardstickName: redisName,
      higherIsBetter: true,
      budget: `>= ${BUDGET[n]}x`,
      budgetRatio: BUDGET[n],
    });
    if (median(engine.uniform) < BUDGET[n] * redisBest || median(board) < BUDGET[n] * redisBest) {
      ctx.progress(`${label}: below budget; profiling SortedSet.incr (uniform) for 1 s`);
      const set = fill();
      const k = keys.uniform;
      let i = 0;
      const { top } = await topSelfTime(async () => {
        const end = performance.now() + 1_000;
        while (performance.now() < end) for (let b = 0; b < BATCH; b++, i++) set.incr(names[k[i & (POOL - 1)]], 1);
      });
      ctx.note(
        `${label} members, below the ${BUDGET[n]}x budget in this run: redis-benchmark ZINCRBY reached ${Math.round(redisBest).toLocaleString('en-US')} ops/s (the higher of -P 16 and -P 64), so the budget asks for ${Math.round(BUDGET[n] * redisBest).toLocaleString('en-US')} updates/s. ` +
          `An update is a hash lookup (member to id) and a counted B+tree move (a search within the leaf, a shift, and a walk to another leaf when the new score leaves it; Leaderboard.update adds the period and the rank search of change tracking). CPU profile of SortedSet.incr, uniform, 1 s: ${top.join('; ')}.`,
      );
    }
    for (const dist of ['uniform', 'zipf'] as const) {
      ctx.record({
        metric: `ZINCRBY-equivalent updates/s, ${label} members, ${dist === 'zipf' ? 'Zipf 1.0' : 'uniform'}: SortedSet.incr vs Node + ioredis`,
        unit: 'ops/s',
        tally: median(engine[dist]),
        runs: engine[dist],
        yardstick: viaIoredis[dist],
        yardstickName: `Node + ioredis, ZINCRBY pipelined x${IOREDIS_BATCH}`,
        higherIsBetter: true,
      });
    }
  }

  if (rankSet !== undefined) {
    ctx.progress(`rank reads on ${rankSet.size.toLocaleString('en-US')} members`);
    const set = rankSet;
    const pick = mulberry32(7);
    // More distinct probes than the timed calls, so no member is read twice and warm in cache.
    const probes = Int32Array.from({ length: POOL }, () => Math.floor(pick() * rankNames.length));
    const perCall = new Float64Array(RANK_BATCHES);
    let sink = 0;
    let q = 0;
    for (let w = 0; w < 200 * RANK_BATCH; w++) sink += set.revRank(rankNames[probes[q++ & (POOL - 1)]])!;
    for (let b = 0; b < RANK_BATCHES; b++) {
      const t = process.hrtime.bigint();
      for (let j = 0; j < RANK_BATCH; j++) sink += set.revRank(rankNames[probes[q++ & (POOL - 1)]])!;
      perCall[b] = Number(process.hrtime.bigint() - t) / 1000 / RANK_BATCH;
    }
    if (sink < 0) throw new Error('unreachable');
    const { p50, p99 } = percentiles(perCall, [50, 99]);
    ctx.record({
      metric: `rank read (revRank) p99 of ${RANK_BATCH}-call batch means, ${set.size.toLocaleString('en-US')} members (p50 ${p50.toFixed(2)} us)`,
      unit: 'us',
      tally: p99,
      higherIsBetter: false,
      budget: '<= 10 us',
      budgetAbs: 10,
    });
  }
  rankSet = undefined;
  rankNames = [];

  for (const n of SIZES) {
    const label = n >= 1_000_000 ? `${n / 1_000_000}M` : `${n / 1000}k`;
    ctx.progress(`${label}: memory per member`);
    const engineBytes = engineBytesPerMember(n);
    await client.flushall();
    const before = await redisUsedMemory(client);
    for (let i = 0; i < n; i += 10_000) {
      const args: (string | number)[] = [];
      for (let j = i; j < Math.min(n, i + 10_000); j++) args.push(j % SCORE_RANGE, memberName(j));
      await client.zadd(KEY, ...args);
    }
    const redisBytes = ((await redisUsedMemory(client)) - before) / n;
    await client.del(KEY);
    ctx.record({
      metric: `bytes per leaderboard member, ${label} members (engine: V8 heap + ArrayBuffers incl. member strings and index; redis: used_memory delta)`,
      unit: 'bytes',
      tally: engineBytes,
      yardstick: redisBytes,
      yardstickName: 'redis-server zset (skiplist encoding)',
      higherIsBetter: false,
      budget: '<= 1x',
      budgetRatio: 1,
    });
  }
}

/**
 * requests/s of `redis-benchmark ... ZINCRBY lb 1 __rand_int__`. Called directly rather than
 * through lib's redisBenchmark(), which appends --csv after the arguments, where a custom
 * command would take it as one of its own.
 */
function zincrbyRate(host: string, port: number, requests: number, keyspace: number, pipeline: number): number {
  const bin = findRedisBenchmark();
  if (!bin) throw new Error('redis-benchmark was not found; it comes with Debian redis-server (package redis-tools).');
  const args = ['-h', host, '-p', String(port), '--csv', '-n', String(requests), '-r', String(keyspace), '-P', String(pipeline), '-c', '50', 'ZINCRBY', KEY, '1', '__rand_int__'];
  const res = spawnSync(bin, args, { encoding: 'utf8' });
  const line = res.stdout.split('\n').find((l) => l.startsWith('"ZINCRBY'));
  const rps = line ? Number([...line.matchAll(/"([^"]*)"/g)][1]?.[1]) : NaN;
  if (res.status !== 0 || !Number.isFinite(rps)) throw new Error(`redis-benchmark ${args.join(' ')} failed: ${res.stderr || res.stdout}`);
  return rps;
}

/** V8 heap plus ArrayBuffer backing stores (where the skip list's nodes live), after GC. */
function memoryInUse(): number {
  heapUsed(); // forces GC
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/** Memory growth per member of a SortedSet built from fresh member strings; nothing else outlives it. */
function engineBytesPerMember(n: number): number {
  const before = memoryInUse();
  const set = new SortedSet();
  for (let i = 0; i < n; i++) set.set(memberName(i), i % SCORE_RANGE);
  const bytes = (memoryInUse() - before) / set.size;
  if (set.size !== n) throw new Error('unexpected size');
  return bytes;
}
