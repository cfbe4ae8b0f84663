// Benchmark harness library. A benchmark is `test/bench/<name>.bench.ts`:
//
//   import type { BenchContext } from './lib.js';
//   export default async function (ctx: BenchContext): Promise<void> {
//     const { client } = await ctx.redis();
//     ctx.record({ metric: 'x', unit: 'ops/s', tally: 1e6, yardstick: 2e5, yardstickName: 'redis', higherIsBetter: true, budget: '>= 3x', budgetRatio: 3 });
//   }
//
// `npm run bench [-- name...]` runs them (test/bench/run.ts). Not part of `npm test`.
import { spawn } from 'node:child_process';
import { cpus, release, totalmem, type } from 'node:os';
import type { Redis } from 'ioredis';
import { Redis as RedisClient } from 'ioredis';
import { findRedisBenchmark, startRedis, type RedisServer } from '../support/redis-server.js';
import { mulberry32 } from '../support/random.js';

/** Seeded PRNG (the one the tests and the demo use): returns floats in [0, 1). */
export { mulberry32 };

export interface BenchRow {
  metric: string;
  unit: string;
  /** Tally's value; when `runs` is given, the reported value is the median of `runs` */
  tally: number;
  yardstick?: number;
  yardstickName?: string;
  higherIsBetter: boolean;
  /** human-readable budget, e.g. ">= 3x", "<= 10 us" */
  budget?: string;
  /** ratio threshold: pass when ratio >= budgetRatio (ratio is always oriented so that bigger is better) */
  budgetRatio?: number;
  /** absolute threshold for tally: pass when tally >= budgetAbs (higherIsBetter) or tally <= budgetAbs */
  budgetAbs?: number;
  /** all samples of the tally value; median reported with min-max */
  runs?: number[];
}

export interface BenchRedis {
  host: string;
  port: number;
  client: Redis;
}

export interface BenchContext {
  name: string;
  /** lazily starts one redis-server per run (stopped at the end); flushed before each benchmark */
  redis(): Promise<BenchRedis>;
  /** records a result row and prints it immediately */
  record(row: BenchRow): void;
  progress(msg: string): void;
  note(text: string): void;
}

/** A row as written to bench-results/<name>.json */
export interface ResultRow extends BenchRow {
  /** reported value: median of runs, or tally */
  value: number;
  min?: number;
  max?: number;
  /** tally/yardstick when higherIsBetter, else yardstick/tally */
  ratio?: number;
  /** null when the row has no budget */
  pass: boolean | null;
}

export interface MachineInfo {
  cpu: string;
  cores: number;
  memoryGb: number;
  kernel: string;
  node: string;
  redis?: string;
}

// ---------------------------------------------------------------------------------------
// machine

let redisVersion: string | undefined;

export function machineInfo(): MachineInfo {
  const cpuList = cpus();
  return {
    cpu: cpuList[0]?.model.trim().replace(/\s+/g, ' ') ?? 'unknown',
    cores: cpuList.length,
    memoryGb: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    kernel: `${type()} ${release()}`,
    node: process.version,
    ...(redisVersion ? { redis: `redis-server ${redisVersion}` } : {}),
  };
}

export function formatMachine(m: MachineInfo): string {
  return `${m.cpu}, ${m.cores} cores, ${m.memoryGb} GB RAM, ${m.kernel}, Node ${m.node}${m.redis ? `, ${m.redis}` : ''}`;
}

// ---------------------------------------------------------------------------------------
// statistics

export type Percentiles = number[] & { [key: `p${number}`]: number };

/**
 * Nearest-rank percentiles. Returns the values in the order of `ps`, also reachable by name:
 * `const { p50, p99 } = percentiles(xs)` or `percentiles(xs)['p99.9']` or `const [p50] = ...`.
 */
export function percentiles(samples: ArrayLike<number>, ps: number[] = [50, 99, 99.9]): Percentiles {
  const sorted = Float64Array.from(samples).sort();
  const out = [] as unknown as Percentiles;
  for (const p of ps) {
    const v = sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
    out.push(v);
    out[`p${p}`] = v;
  }
  return out;
}

export function median(xs: ArrayLike<number>): number {
  const sorted = Float64Array.from(xs).sort();
  const n = sorted.length;
  if (n === 0) return NaN;
  return n % 2 ? sorted[(n - 1) / 2]! : (sorted[n / 2 - 1]! + sorted[n / 2]!) / 2;
}

/**
 * Calls `fn` repeatedly for at least `minMs` (default 1000) after a short warm-up and returns
 * calls per second (times `opsPerCall`, for a fn that does a batch). Async fns are awaited.
 */
export async function timeIt(fn: () => unknown, opts: { minMs?: number; warmupMs?: number; opsPerCall?: number } = {}): Promise<number> {
  const minMs = opts.minMs ?? 1000;
  const warmupMs = opts.warmupMs ?? Math.min(200, minMs / 5);
  const opsPerCall = opts.opsPerCall ?? 1;
  const first = fn();
  const isAsync = typeof (first as { then?: unknown } | null)?.then === 'function';
  if (isAsync) await first;
  const measure = async (ms: number): Promise<number> => {
    let calls = 0;
    let batch = 1;
    const start = performance.now();
    let elapsed = 0;
    while (elapsed < ms) {
      if (isAsync) for (let i = 0; i < batch; i++) await fn();
      else for (let i = 0; i < batch; i++) fn();
      calls += batch;
      elapsed = performance.now() - start;
      // grow batches so the clock is read about once a millisecond
      if (elapsed < ms / 10 && batch < 1 << 20) batch *= 2;
    }
    return (calls * opsPerCall * 1000) / elapsed;
  };
  await measure(warmupMs);
  return measure(minMs);
}

/**
 * Zipf-distributed integers in [0, n): P(k) ∝ 1/(k+1)^s, so 0 is the most frequent.
 * s = 0 gives a uniform distribution. Uses a precomputed CDF (8 bytes per item).
 */
export function makeZipf(n: number, s: number, seed: number): () => number {
  if (!(n >= 1) || !Number.isInteger(n)) throw new Error(`makeZipf: n must be a positive integer, got ${n}`);
  const rand = mulberry32(seed);
  const cdf = new Float64Array(n);
  let sum = 0;
  for (let k = 0; k < n; k++) {
    sum += 1 / Math.pow(k + 1, s);
    cdf[k] = sum;
  }
  for (let k = 0; k < n; k++) cdf[k]! /= sum;
  cdf[n - 1] = 1;
  return () => {
    const u = rand();
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cdf[mid]! > u) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  };
}

// ---------------------------------------------------------------------------------------
// memory

/** V8 heap in use after forcing garbage collection (needs --expose-gc; `npm run bench` provides it). */
export function heapUsed(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (typeof gc !== 'function') throw new Error('heapUsed() needs node --expose-gc; run benchmarks with `npm run bench`.');
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

/** `used_memory` from INFO memory, in bytes. */
export async function redisUsedMemory(client: Redis): Promise<number> {
  const info = await client.info('memory');
  const m = /^used_memory:(\d+)/m.exec(info);
  if (!m) throw new Error('INFO memory has no used_memory');
  return Number(m[1]);
}

// ---------------------------------------------------------------------------------------
// the run's redis-server

let server: RedisServer | undefined;
let starting: Promise<BenchRedis> | undefined;
let shared: BenchRedis | undefined;

/** The one redis-server of this run (started on first use). */
export function benchRedis(): Promise<BenchRedis> {
  starting ??= (async () => {
    server = await startRedis();
    redisVersion = server.version;
    const client = new RedisClient({ host: server.host, port: server.port, lazyConnect: true, maxRetriesPerRequest: 1 });
    await client.connect();
    shared = { host: server.host, port: server.port, client };
    return shared;
  })();
  return starting;
}

/** Empties the run's redis (if started), so each benchmark starts from the same state. */
export async function resetBenchRedis(): Promise<void> {
  if (shared) await shared.client.flushall();
}

export async function stopBenchRedis(): Promise<void> {
  if (shared) await shared.client.quit().catch(() => shared?.client.disconnect());
  if (server) await server.stop();
  server = undefined;
  starting = undefined;
  shared = undefined;
}

export interface RedisBenchmarkResult {
  test: string;
  rps: number;
}

/** Runs Debian's `redis-benchmark --csv` against the run's redis and returns every result line. */
export async function redisBenchmarkAll(args: string[]): Promise<RedisBenchmarkResult[]> {
  const bin = findRedisBenchmark();
  if (!bin) throw new Error('redis-benchmark was not found; it comes with Debian redis-server (package redis-tools).');
  const { host, port } = await benchRedis();
  // Options go before a custom command's words: redis-benchmark takes everything after them as the command.
  const fullArgs = ['-h', host, '-p', String(port), '--csv', ...args.filter((a) => a !== '--csv')];
  const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(bin, fullArgs, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', (e) => resolve({ code: -1, stdout: out, stderr: `${err}${String(e)}` }));
    child.on('close', (c) => resolve({ code: c ?? -1, stdout: out, stderr: err }));
  });
  if (code !== 0) throw new Error(`redis-benchmark ${fullArgs.join(' ')} failed (exit ${code}): ${stderr.trim() || stdout.trim()}`);
  const rows: RedisBenchmarkResult[] = [];
  for (const line of stdout.split('\n')) {
    const fields = [...line.matchAll(/"([^"]*)"/g)].map((m) => m[1]!);
    if (fields.length < 2 || fields[1] === 'rps') continue;
    const rps = Number(fields[1]);
    if (Number.isFinite(rps)) rows.push({ test: fields[0]!, rps });
  }
  if (rows.length === 0) throw new Error(`redis-benchmark ${fullArgs.join(' ')} printed no results:\n${stdout}${stderr}`);
  return rows;
}

/**
 * Runs Debian's `redis-benchmark` against the run's redis (host, port and `--csv` are added)
 * and returns requests per second of the first test, e.g.
 * `await redisBenchmark(['-t', 'set', '-n', '200000', '-P', '16', '-r', '100000'])`.
 */
export async function redisBenchmark(args: string[]): Promise<number> {
  return (await redisBenchmarkAll(args))[0]!.rps;
}

// ---------------------------------------------------------------------------------------
// results

export function evaluate(row: BenchRow): ResultRow {
  const runs = row.runs && row.runs.length > 0 ? row.runs : undefined;
  const value = runs ? median(runs) : row.tally;
  const out: ResultRow = { ...row, value, pass: null };
  if (runs) {
    out.min = Math.min(...runs);
    out.max = Math.max(...runs);
  }
  // a value that could not be measured (NaN; null once stored as JSON) has no ratio
  if (row.yardstick !== undefined && row.yardstick !== 0 && value !== 0 && Number.isFinite(value)) {
    out.ratio = row.higherIsBetter ? value / row.yardstick : row.yardstick / value;
  }
  const checks: boolean[] = [];
  if (row.budgetRatio !== undefined) checks.push(out.ratio !== undefined && out.ratio >= row.budgetRatio);
  if (row.budgetAbs !== undefined) checks.push(row.higherIsBetter ? value >= row.budgetAbs : value <= row.budgetAbs);
  if (checks.length > 0) out.pass = checks.every(Boolean);
  return out;
}

/** 1234567 -> "1,234,567"; 0.01234 -> "0.0123"; 12.345 -> "12.3" */
export function fmt(x: number | null | undefined): string {
  if (x === undefined || x === null || Number.isNaN(x)) return '—';
  if (!Number.isFinite(x)) return String(x);
  const abs = Math.abs(x);
  if (abs >= 1000) return Math.round(x).toLocaleString('en-US');
  if (abs >= 100) return x.toFixed(0);
  if (abs >= 10) return x.toFixed(1);
  if (abs >= 1) return x.toFixed(2);
  if (abs === 0) return '0';
  return x.toPrecision(3);
}

export function fmtRatio(r: number | undefined): string {
  return r === undefined ? '—' : `${r >= 10 ? r.toFixed(1) : r.toFixed(2)}x`;
}

export function verdict(pass: boolean | null): string {
  return pass === null ? '—' : pass ? 'pass' : 'falls short';
}
