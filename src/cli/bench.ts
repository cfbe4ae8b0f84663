/** `tally bench [name]`: the benchmarks (npm run bench), from the repository. */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Command } from './command.js';
import { EXIT } from './output.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export const benchCommand: Command = {
  name: 'bench',
  usage: 'tally bench [name...]',
  summary: 'run the benchmarks against their yardsticks (npm run bench)',
  help: `Runs the benchmarks under test/bench (each against its yardstick, e.g. redis-server, in
the same run) and writes BENCHMARKS.md and bench-results/*.json. With names, only those
benchmarks run (e.g. tally bench leaderboard). Needs the repository's dev dependencies.`,
  options: {},
  run({ positionals }, io) {
    return new Promise((resolve) => {
      const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
      const child = spawn(npm, ['run', 'bench', '--', ...positionals], { cwd: ROOT, stdio: 'inherit' });
      child.on('error', (err) => {
        io.err(`tally bench: cannot run npm: ${err.message}\n`);
        resolve(EXIT.failed);
      });
      child.on('exit', (code, signal) => resolve(code ?? (signal ? EXIT.failed : EXIT.ok)));
    });
  },
};
