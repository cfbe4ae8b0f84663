// Runs a `tally` command line in-process with its output captured, as the specs of the CLI do.
import { runCli } from '../../src/cli/main.js';
import type { Output } from '../../src/cli/output.js';

export async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: Output = { out: (t) => void (out += t), err: (t) => void (err += t), tty: false };
  const code = await runCli(argv, io);
  return { code, out, err };
}
