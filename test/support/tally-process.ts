// Tally as a separate process (`node dist/main.js`, built by `npm test` first): for tests that
// kill it with a signal and start it again on the same data directory.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';

/** Run from the repository root, as npm scripts and jest do. */
const ROOT = process.cwd();
export const MAIN = join(ROOT, 'dist', 'main.js');

export interface TallyProcess {
  child: ChildProcess;
  pid: number;
  url: string;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
  /** Resolves with the exit code (null when killed by a signal) and signal. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Every process started by this test file and not known to be gone; see killStrays. */
const children = new Set<ChildProcess>();
let closed = false;

/**
 * Kills (SIGKILL) what this test file started and is still running a second after its own
 * hooks (which may have just killed them), and whatever it would start from now on: run
 * after the file's hooks (test/support/e2e-after.ts), so a start-up that failed half-way (one
 * of three members) cannot leave processes that keep jest from exiting. Resolves with how
 * many it had to kill.
 */
export async function killStrays(graceMs = 1_000): Promise<number> {
  closed = true;
  const alive = () => [...children].filter((c) => c.exitCode === null && c.signalCode === null);
  const waiting = alive();
  if (waiting.length > 0) await Promise.race([Promise.all(waiting.map((c) => new Promise((r) => c.once('exit', r)))), sleep(graceMs)]);
  let killed = 0;
  for (const child of alive()) if (child.kill('SIGKILL')) killed += 1;
  children.clear();
  return killed;
}

export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolvePort(port));
    });
  });
}

/**
 * Starts `node dist/main.js` with `env` on a free port and resolves once it listens (it may
 * still be restoring). Rejects with its output if it exits first or takes over `timeoutMs`.
 */
export async function startTallyProcess(env: Record<string, string>, timeoutMs = 60_000): Promise<TallyProcess> {
  // A caller may choose the port (PORT in env), e.g. to advertise its URL before the start.
  const port = env.PORT !== undefined ? Number(env.PORT) : await freePort();
  const child = spawn(process.execPath, [MAIN], {
    cwd: ROOT,
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', TALLY_DEMO: '0', TALLY_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  if (closed) child.kill('SIGKILL');
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.once('exit', (code, signal) => r({ code, signal })));
  const url = `http://127.0.0.1:${port}`;
  const started = Date.now();
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`tally exited before serving:\n${out}`);
    if (out.includes('tally is serving')) break;
    if (Date.now() - started > timeoutMs) {
      child.kill('SIGKILL');
      throw new Error(`tally did not serve within ${timeoutMs} ms:\n${out}`);
    }
    await sleep(20);
  }
  return { child, pid: child.pid!, url, output: () => out, exited };
}

/** Sends `signal` to the process by its id and waits for it to exit. */
export async function stopTallyProcess(p: TallyProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (p.child.exitCode === null && p.child.signalCode === null) process.kill(p.pid, signal);
  return p.exited;
}

export interface HealthBody {
  status: string;
  restore?: { state: string; snapshot?: string; skipped?: string[]; replayedLogRecords?: number; reason?: string };
}

export async function health(url: string): Promise<HealthBody & { httpStatus: number }> {
  const res = await fetch(`${url}/health`);
  return { ...((await res.json()) as HealthBody), httpStatus: res.status };
}

/** Polls /health until `accept` says yes; fails with the last report after `timeoutMs`. */
export async function waitForHealth(url: string, accept: (h: HealthBody) => boolean, timeoutMs = 120_000): Promise<HealthBody> {
  const started = Date.now();
  let last: HealthBody | undefined;
  for (;;) {
    try {
      last = await health(url);
      if (accept(last)) return last;
    } catch {
      // not listening yet
    }
    if (Date.now() - started > timeoutMs) throw new Error(`health not as expected within ${timeoutMs} ms; last: ${JSON.stringify(last)}`);
    await sleep(50);
  }
}

export const ready = (url: string, timeoutMs?: number) => waitForHealth(url, (h) => h.status === 'ok', timeoutMs);

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
