// The built Tally (dist/, compiled by tsc) for benchmarks. Nest's code-first GraphQL needs
// decorator metadata, which tsx (the benchmark runner) does not emit, so a benchmark that
// starts the real app imports it from dist/ after building it once per run.
import { spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { INestApplication } from '@nestjs/common';

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
