// System programs the suites need and Tally does not (redis-server as the benchmarks' yardstick,
// Debian's chromium for the browser checks): found on PATH, else installed from Debian when
// this process may (root, apt-get present), else a clear error naming what is missing and how
// to get it. .ci/run installs the same packages up front.
//
//   const bin = await ensureDebianPackage('chromium', 'chromium');
import { spawn } from 'node:child_process';
import { accessSync, constants, mkdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

/** Where a program is looked for besides PATH (a root shell's PATH may lack the sbin dirs, a user's may lack /usr/bin). */
const SYSTEM_DIRS = ['/usr/bin', '/usr/sbin', '/usr/local/bin', '/bin'];
/** An install that takes longer is given up (apt-get update and a browser's dependencies take about a minute). */
const INSTALL_TIMEOUT_MS = 15 * 60_000;

export interface EnsureOptions {
  /** Label of the progress lines on stderr, e.g. `redis` -> `[redis] ...`; default: the command. */
  tag?: string;
  /** What else the error message should say (e.g. another way to provide the program). */
  hint?: string;
  /** Whether this process may install packages; default: running as root. */
  root?: boolean;
}

/** Path of an executable `name` on PATH or in the usual system directories, if any. */
export function findCommand(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), ...SYSTEM_DIRS];
  for (const dir of dirs) {
    const file = join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      if (statSync(file).isFile()) return file;
    } catch {
      // keep looking
    }
  }
  return undefined;
}

/** How to get `pkg` by hand, for error messages. */
export function installHint(command: string, pkg: string, hint?: string): string {
  return `Install it (Debian/Ubuntu: \`sudo apt-get update && sudo apt-get install ${pkg}\`) and make sure ${command} is on PATH${hint ? `; ${hint}` : ''}. .ci/run installs it when run as root.`;
}

/**
 * Returns the path of `command`. When it is missing and this process runs as root with
 * apt-get, installs the Debian package `pkg` (`apt-get update`, then `apt-get install -y`),
 * saying so on stderr; otherwise rejects with an Error naming the command, the package and
 * how to install it. Installs are serialised across processes (parallel test workers).
 */
export async function ensureDebianPackage(command: string, pkg: string, options: EnsureOptions = {}): Promise<string> {
  const found = findCommand(command);
  if (found) return found;
  const tag = options.tag ?? command;
  const hint = installHint(command, pkg, options.hint);
  const root = options.root ?? process.getuid?.() === 0;
  const aptGet = findCommand('apt-get');
  if (!root || aptGet === undefined) {
    const why = root ? 'there is no apt-get to install it with' : 'this process is not root, so it does not install it';
    throw new Error(`${command} was not found (looked on PATH and in ${SYSTEM_DIRS.join(', ')}), and ${why}. ${hint}`);
  }
  return withInstallLock(async () => {
    const again = findCommand(command);
    if (again) return again;
    say(tag, `${command} not found; installing the Debian package ${pkg}: apt-get update && apt-get install -y ${pkg} (takes a minute) ...`);
    const started = Date.now();
    for (const args of [['update'], ['install', '-y', pkg]]) {
      const res = await run(aptGet, args);
      if (res.code !== 0) {
        const tail = res.output.trim().split('\n').slice(-15).join('\n');
        throw new Error(`Installing ${pkg} failed at \`apt-get ${args.join(' ')}\` (${res.code === null ? 'timed out or killed' : `exit ${res.code}`}):\n${tail}\n${hint}`);
      }
    }
    const installed = findCommand(command);
    if (!installed) throw new Error(`apt-get installed ${pkg} but ${command} is still not found. ${hint}`);
    say(tag, `installed ${installed} (${pkg}) in ${Math.round((Date.now() - started) / 1000)} s`);
    return installed;
  });
}

function say(tag: string, msg: string): void {
  process.stderr.write(`[${tag}] ${msg}\n`);
}

/** Runs a command without blocking the event loop (test timers keep running); output kept for errors. */
function run(cmd: string, args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const keep = (d: Buffer) => {
      output += String(d);
      if (output.length > 256 * 1024) output = output.slice(-128 * 1024);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const timer = setTimeout(() => child.kill('SIGKILL'), INSTALL_TIMEOUT_MS);
    child.once('error', (err) => {
      clearTimeout(timer);
      resolve({ code: null, output: `${output}${String(err)}` });
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One installer at a time across processes: apt-get itself refuses to run twice at once. */
async function withInstallLock<T>(fn: () => Promise<T>): Promise<T> {
  const lock = join(tmpdir(), 'tally-apt-install.lock');
  const deadline = Date.now() + INSTALL_TIMEOUT_MS;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      try {
        if (Date.now() - statSync(lock).mtimeMs > INSTALL_TIMEOUT_MS) rmSync(lock, { recursive: true, force: true });
      } catch {
        // gone meanwhile
      }
      if (Date.now() > deadline) throw new Error(`Timed out waiting for another process installing Debian packages (lock ${lock}).`);
      await sleep(500);
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}
