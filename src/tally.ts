/** Entry point of the `tally` command line (bin/tally.js runs the built copy, dist/tally.js). */
import { runCli } from './cli/main.js';

function exit(code: number): void {
  // exit once stdout is flushed (a pipe would otherwise lose the tail of the output)
  process.stdout.write('', () => process.exit(code));
}

runCli(process.argv.slice(2)).then(exit, (err: unknown) => {
  process.stderr.write(`tally: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  exit(1);
});
