/**
 * The `tally` command line: `npx tally <command>` from the repository (bin/tally.js), also
 * `npm run tally -- <command>`. Commands: validate, snapshot inspect, replay, export, bench, demo.
 */
import { describeOptions, parseArgs, UsageError } from './args.js';
import { benchCommand } from './bench.js';
import type { Command } from './command.js';
import { demoCommand } from './demo.js';
import { exportCommand } from './export.js';
import { EXIT, processOutput, type Output } from './output.js';
import { replayCommand } from './replay.js';
import { snapshotCommand } from './snapshot.js';
import { validateCommand } from './validate.js';

export const COMMANDS: Command[] = [validateCommand, snapshotCommand, replayCommand, exportCommand, benchCommand, demoCommand];

export function usage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return `usage: tally <command> [arguments]

Tally's command-line tool: check pipeline files, inspect snapshots, rebuild state from
Kafka, export point-in-time training sets, run the benchmarks and send demo events.

commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join('\n')}
  ${'help'.padEnd(width)}  show this, or a command's help (tally help <command>)

Each command also takes --help.
`;
}

export function commandHelp(c: Command): string {
  const options = Object.keys(c.options).length > 0 ? `\noptions:\n${describeOptions(c.options)}\n` : '';
  return `usage: ${c.usage}\n\n${c.help}\n${options}`;
}

/** Runs one command line; resolves to the exit status. */
export async function runCli(argv: readonly string[], io: Output = processOutput): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    const topic = name === 'help' ? rest[0] : undefined;
    const c = topic === undefined ? undefined : COMMANDS.find((x) => x.name === topic);
    if (topic !== undefined && !c) {
      io.err(`tally: no command "${topic}"\n\n${usage()}`);
      return EXIT.usage;
    }
    io.out(c ? commandHelp(c) : usage());
    return name === undefined ? EXIT.usage : EXIT.ok;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    io.err(`tally: no command "${name}"\n\n${usage()}`);
    return EXIT.usage;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    io.out(commandHelp(command));
    return EXIT.ok;
  }
  try {
    return await command.run(parseArgs(rest, command.options), io);
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`tally ${command.name}: ${err.message}\nusage: ${command.usage}\n`);
      return EXIT.usage;
    }
    io.err(`tally ${command.name}: ${err instanceof Error ? err.message : String(err)}\n`);
    return EXIT.failed;
  }
}
