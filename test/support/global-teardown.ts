// e2e global teardown: stops the broker the global setup started (if it started one).
// (globalThis.__TALLY_KAFKA__ is declared in global-setup.ts)
import type {} from './global-setup.js';

const GRACE_MS = 30_000;

export default async function globalTeardown(): Promise<void> {
  const handle = globalThis.__TALLY_KAFKA__;
  if (!handle) return;
  globalThis.__TALLY_KAFKA__ = undefined;
  delete process.env.KAFKA_BROKERS;
  const { cli, pid } = handle;
  if (cli.exitCode !== null || cli.signalCode !== null) return;
  const exited = new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), GRACE_MS);
    cli.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
  cli.kill('SIGTERM'); // the script stops the broker (SIGTERM, SIGKILL after a grace period)
  if (!(await exited)) {
    for (const p of [pid, cli.pid]) {
      try {
        if (p) process.kill(p, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}
