// The built Tally (dist/, compiled by tsc) for benchmarks. Nest's code-first GraphQL needs
// decorator metadata, which tsx (the benchmark runner) does not emit, so a benchmark that
// starts the real app imports it from dist/ after building it once per run.
import { spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { INestApplication } from '@nestjs/common';
import { NODE_FLAGS } from '../../src/ops/node-flags.js';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const DIST = join(ROOT, 'dist');

let built = false;

/** `tsc -p tsconfig.build.json` into dist/, once per process. */
export function buildDist(): void {
  if (built) return;
  const res = spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: ROOT, encoding: 'utf8' });
  if (res.status !== 0) throw new Error(`building dist/ failed:\n${res.stdout}${res.stderr}`);
  built = true;
}

/** Imports a module of the build, typed as its source, e.g. `distModule<typeof import('../../src/ops/metrics.js')>('ops/metrics.js')`. */
export async function distModule<T>(path: string): Promise<T> {
  return (await import(pathToFileURL(join(DIST, path)).href)) as T;
}

export interface DistTally {
  app: INestApplication;
  url: string;
  close(): Promise<void>;
}

/** Builds dist/ if needed and starts Tally in this process on a free loopback port. */
export async function startDistTally(pipelineYaml: string, env: Record<string, string> = {}): Promise<DistTally> {
  buildDist();
  const { createTally, baseUrl } = await distModule<typeof import('../../src/bootstrap.js')>('bootstrap.js');
  const { parsePipeline } = await distModule<typeof import('../../src/pipeline/load.js')>('pipeline/load.js');
  const { loadSettings } = await distModule<typeof import('../../src/settings/settings.js')>('settings/settings.js');
  const settings = loadSettings({ PORT: '0', HOST: '127.0.0.1', TALLY_LOG_LEVEL: 'error', ...env });
  const app = await createTally({ settings, pipeline: parsePipeline(pipelineYaml, 'benchmark pipeline') });
  return { app, url: baseUrl(app), close: () => app.close() };
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

/**
 * Runs `fn` under the V8 CPU profiler of this process and returns the functions with the most
 * self time, as "name (file:line) 12.3%" strings, heaviest first (idle and GC included).
 */
export async function topSelfTime<T>(fn: () => Promise<T>, top = 8): Promise<{ result: T; top: string[] }> {
  const { Session } = await import('node:inspector/promises');
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 200 });
  await session.post('Profiler.start');
  let result: T;
  let profile: { nodes: ProfileNode[]; samples: number[] };
  try {
    result = await fn();
  } finally {
    profile = (await session.post('Profiler.stop')).profile as unknown as { nodes: ProfileNode[]; samples: number[] };
    session.disconnect();
  }
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  for (const id of profile.samples) {
    const n = byId.get(id);
    if (!n) continue;
    const { functionName, url, lineNumber } = n.callFrame;
    const file = url.replace(/^file:\/\//, '').replace(`${ROOT}/`, '');
    const key = `${functionName || '(anonymous)'}${file ? ` (${file}:${lineNumber + 1})` : ''}`;
    self.set(key, (self.get(key) ?? 0) + 1);
  }
  const total = profile.samples.length || 1;
  const rows = [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, top);
  return { result: result!, top: rows.map(([k, v]) => `${k} ${((v * 100) / total).toFixed(1)}%`) };
}

export interface ServerChild {
  url: string;
  pid: number;
  /** Sends a command to test/bench/tally-server.mjs and resolves its answer. */
  call<T = Record<string, number>>(cmd: string, args?: Record<string, unknown>): Promise<T>;
  stop(): Promise<void>;
}

/**
 * Starts test/bench/tally-server.mjs (built Tally, or the raw ws yardstick with
 * TALLY_BENCH_RAW_WS=1) in a child process; or `script`, another child speaking the same
 * JSON-line protocol (test/bench/fanout-clients.mjs).
 */
export async function startServerChild(env: Record<string, string>, script = 'test/bench/tally-server.mjs'): Promise<ServerChild> {
  buildDist();
  const { spawn } = await import('node:child_process');
  const { createInterface } = await import('node:readline');
  const child = spawn(process.execPath, ['--expose-gc', ...NODE_FLAGS, join(ROOT, script)], {
    cwd: ROOT,
    env: { ...process.env, TALLY_LOG_LEVEL: 'error', NODE_ENV: 'production', ...env },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let nextId = 1;
  let ready!: (v: { url: string; pid: number }) => void;
  const started = new Promise<{ url: string; pid: number }>((resolve, reject) => {
    ready = resolve;
    child.once('exit', (code) => reject(new Error(`tally-server exited with code ${code} before listening`)));
  });
  createInterface({ input: child.stdout! }).on('line', (line) => {
    if (!line.startsWith('{')) return;
    let m: Record<string, unknown>;
    try {
      m = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    if (typeof m.url === 'string' && typeof m.pid === 'number') ready({ url: m.url, pid: m.pid });
    else if (typeof m.id === 'number' && pending.has(m.id)) {
      const p = pending.get(m.id)!;
      pending.delete(m.id);
      if (typeof m.error === 'string') p.reject(new Error(m.error));
      else p.resolve(m);
    }
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.once('exit', () => {
    for (const p of pending.values()) p.reject(new Error('tally-server exited'));
    pending.clear();
  });
  const { url, pid } = await started;
  return {
    url,
    pid,
    call<T>(cmd: string, args: Record<string, unknown> = {}): Promise<T> {
      const id = nextId++;
      return new Promise<T>((resolve, reject) => {
        pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
        child.stdin!.write(`${JSON.stringify({ id, cmd, ...args })}\n`);
      });
    },
    async stop() {
      child.stdin!.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
