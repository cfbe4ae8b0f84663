// e2e global setup: one real Kafka broker per test run (unless KAFKA_BROKERS is set).
// Test workers start after this and inherit process.env, so they see KAFKA_BROKERS.
//
// Jest loads this file as CommonJS, so it imports no local modules at run time: it runs the
// broker CLI (scripts/kafka/broker.ts) as a child process that keeps the broker until it
// gets SIGTERM or its stdin closes (so a killed test run does not leave a broker behind).
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

/** kept in sync with KAFKA_UNAVAILABLE_ENV in test/support/kafka.ts */
const UNAVAILABLE_ENV = 'TALLY_TEST_KAFKA_UNAVAILABLE';
const START_TIMEOUT_MS = 10 * 60_000; // includes the first download of the Kafka jars

export interface TestBrokerHandle {
  brokers: string;
  pid: number;
  cli: ChildProcess;
}

declare global {
  var __TALLY_KAFKA__: TestBrokerHandle | undefined;
}

export default async function globalSetup(_globalConfig: unknown, projectConfig?: { rootDir?: string }): Promise<void> {
  delete process.env[UNAVAILABLE_ENV];
  const given = process.env.KAFKA_BROKERS?.trim();
  if (given) {
    process.env.KAFKA_BROKERS = given;
    return;
  }
  const root = projectConfig?.rootDir ?? process.cwd();
  const started = Date.now();
  try {
    const handle = await startBrokerCli(root);
    globalThis.__TALLY_KAFKA__ = handle;
    process.env.KAFKA_BROKERS = handle.brokers;
    process.stderr.write(`\n[e2e] Kafka broker ${handle.brokers} (pid ${handle.pid}) ready in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  } catch (err) {
    if (process.env.CI === 'true') throw err;
    const reason = err instanceof Error ? err.message : String(err);
    delete process.env.KAFKA_BROKERS;
    process.env[UNAVAILABLE_ENV] = reason;
    process.stderr.write(`\n[e2e] No Kafka broker; the suites that need one will fail with this reason:\n${reason}\n`);
  }
}

function startBrokerCli(root: string): Promise<TestBrokerHandle> {
  const script = join(root, 'scripts', 'kafka', 'broker.ts');
  const cli = spawn(process.execPath, ['--import', 'tsx', script, 'start', '--until-stdin-closes'], {
    cwd: root,
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, KAFKA_BROKERS: '' },
  });
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    let brokers: string | undefined;
    const timer = setTimeout(() => {
      cli.kill('SIGTERM');
      fail(new Error(`The Kafka broker did not start within ${START_TIMEOUT_MS / 1000} s.\n${err.trim()}`));
    }, START_TIMEOUT_MS);
    const fail = (e: Error) => {
      clearTimeout(timer);
      reject(e);
    };
    cli.stderr!.on('data', (d: Buffer) => {
      const text = d.toString();
      err += text;
      // progress lines such as the one-time download notice
      if (!brokers) for (const line of text.split('\n')) if (line.startsWith('[kafka] fetching')) process.stderr.write(`${line}\n`);
    });
    cli.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      brokers ??= /^KAFKA_BROKERS=(.+)$/m.exec(out)?.[1]?.trim();
      const pid = /^KAFKA_PID=(\d+)$/m.exec(out)?.[1];
      if (brokers && pid) {
        clearTimeout(timer);
        // never keep jest alive on account of the broker: stdin closing stops it anyway
        cli.unref();
        for (const s of [cli.stdin, cli.stdout, cli.stderr] as unknown as { unref?: () => void }[]) s.unref?.();
        resolve({ brokers, pid: Number(pid), cli });
      }
    });
    cli.on('error', (e) => fail(new Error(`Could not run the Kafka broker script ${script}: ${e.message}`)));
    cli.on('exit', (code, signal) => {
      if (brokers) return;
      fail(new Error(err.trim() || `The Kafka broker script exited (code ${code}, signal ${signal}) without starting a broker.`));
    });
  });
}
