import type { OptionSpec, ParsedArgs } from './args.js';
import type { Output } from './output.js';

/** One `tally <command>`: its help and what it does; `run` resolves to the exit status. */
export interface Command {
  name: string;
  usage: string;
  /** One line for the command list. */
  summary: string;
  /** The rest of `tally help <command>`. */
  help: string;
  options: Record<string, OptionSpec>;
  run(args: ParsedArgs, io: Output): Promise<number>;
}
