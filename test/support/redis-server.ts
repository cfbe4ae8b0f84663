// A throwaway redis-server (Debian's) on a free loopback port: the yardstick of the
// benchmarks and the reference of the leaderboard/geo cross-checks. Not a Tally dependency.
//
//   const redis = await startRedis();   // { host, port, pid, version, stop() }
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { ensureDebianPackage, findCommand } from './debian-package.js';

export interface RedisServer {
  host: string;
  port: number;
  pid: number;
  /** e.g. `7.0.15` */
  version: string;
  /** SIGTERM, then SIGKILL after a grace period; removes the temp dir */
  stop(): Promise<void>;
}

const HOST = '127.0.0.1';
const READY_TIMEOUT_MS = 15_000;
const STOP_GRACE_MS = 5_000;
const DIR_PREFIX = 'tally-redis-';

/** Path of `redis-server` on PATH or in /usr/bin, if any. */
export function findRedisServer(): string | undefined {
  return findCommand('redis-server');
}

/** Path of `redis-benchmark` (Debian package redis-tools, installed along with redis-server), if any. */
export function findRedisBenchmark(): string | undefined {
  return findCommand('redis-benchmark');
}

/**
 * Returns the path of redis-server. When it is missing and this process runs as root, installs
 * Debian's `redis-server` package (it brings redis-benchmark too); otherwise throws an Error
 * saying how to install it.
 */
export function ensureRedisServer(): Promise<string> {
  return ensureDebianPackage('redis-server', 'redis-server', { tag: 'redis', hint: 'the package provides redis-server and redis-benchmark' });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((res, rej) => {
    server.once('error', rej);
    server.listen(0, HOST, () => res());
  });
  const { port } = server.address() as AddressInfo;
  await new Promise((res) => server.close(res));
  return port;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Servers left by a test process that was killed: owner gone, server still running in our temp dir. */
function reapOrphans(): void {
  let entries: string[];
  try {
    entries = readdirSync(tmpdir()).filter((e) => e.startsWith(DIR_PREFIX));
  } catch {
    return;
  }
  for (const entry of entries) {
    const dir = join(tmpdir(), entry);
    try {
      const owner = Number(readFileSync(join(dir, 'owner.pid'), 'utf8'));
      if (!owner || isAlive(owner)) continue;
      const pid = Number(readFileSync(join(dir, 'redis.pid'), 'utf8'));
      if (pid && isAlive(pid) && readlinkSync(`/proc/${pid}/cwd`) === dir) process.kill(pid, 'SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // not ours, half-written or already gone
    }
  }
}

function exitedPromise(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((res) => {
    const timer = setTimeout(() => res(false), ms);
    child.once('exit', () => {
      clearTimeout(timer);
      res(true);
    });
  });
}

/** Starts redis-server (no persistence) on a free 127.0.0.1 port and waits until it answers PING. */
export async function startRedis(): Promise<RedisServer> {
  const bin = await ensureRedisServer();
  reapOrphans();
  let lastErr: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startOnce(bin);
    } catch (err) {
      lastErr = err;
      if (!(err instanceof Error && /Address already in use/i.test(err.message))) throw err;
    }
  }
  throw lastErr;
}

async function startOnce(bin: string): Promise<RedisServer> {
  const dir = mkdtempSync(join(tmpdir(), DIR_PREFIX));
  writeFileSync(join(dir, 'owner.pid'), String(process.pid));
  const port = await freePort();
  const logFile = join(dir, 'redis.log');
  const out = openSync(logFile, 'a');
  const args = ['--save', '', '--appendonly', 'no', '--port', String(port), '--bind', HOST, '--dir', dir, '--daemonize', 'no'];
  const child = spawn(bin, args, { cwd: dir, stdio: ['ignore', out, out] });
  closeSync(out);
  const spawnError = new Promise<Error>((res) => child.once('error', res));
  const pid = child.pid;
  if (pid === undefined) {
    const err = await spawnError;
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`Could not run ${bin}: ${err.message}`);
  }
  writeFileSync(join(dir, 'redis.pid'), String(pid));
  const killOnExit = () => {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  process.once('exit', killOnExit);

  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        if (!(await exitedPromise(child, STOP_GRACE_MS))) {
          child.kill('SIGKILL');
          await exitedPromise(child, 2_000);
        }
      }
      process.off('exit', killOnExit);
      rmSync(dir, { recursive: true, force: true });
    })());

  const logTail = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8').trim().split('\n').slice(-15).join('\n') : '');
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let lastErr: unknown;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      const tail = logTail();
      await stop();
      throw new Error(`redis-server exited during startup (code ${child.exitCode}):\n${tail}`);
    }
    const client = new Redis({
      host: HOST,
      port,
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      retryStrategy: () => null,
      disconnectTimeout: 20, // a probe of a not-yet-listening port must not hold the event loop for 2 s
    });
    client.on('error', () => undefined);
    try {
      await client.connect();
      if ((await client.ping()) === 'PONG') {
        const info = await client.info('server');
        const version = /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown';
        return { host: HOST, port, pid, version, stop };
      }
    } catch (err) {
      lastErr = err;
    } finally {
      client.disconnect();
    }
    if (Date.now() > deadline) {
      const tail = logTail();
      await stop();
      throw new Error(`redis-server did not answer PING on ${HOST}:${port} within ${READY_TIMEOUT_MS / 1000} s (${String(lastErr)}):\n${tail}`);
    }
    await sleep(50);
  }
}
