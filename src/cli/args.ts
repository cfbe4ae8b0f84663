/**
 * A small argv parser for the CLI: positional arguments and `--name value` / `--name=value`
 * / `--flag` options, checked against what a command declares. No dependency.
 */

export interface OptionSpec {
  /** Takes a value (`--url http://…`); otherwise a flag. */
  value?: boolean;
  description: string;
  /** Shown in help as the value's name, e.g. URL. */
  placeholder?: string;
}

export interface ParsedArgs {
  positionals: string[];
  options: Record<string, string | true>;
}

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export function parseArgs(argv: readonly string[], spec: Record<string, OptionSpec>): ParsedArgs {
  const positionals: string[] = [];
  const options: Record<string, string | true> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('--') || arg === '--') {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const s = spec[name];
    if (!s) throw new UsageError(`unknown option --${name}`);
    if (!s.value) {
      if (eq >= 0) throw new UsageError(`--${name} takes no value`);
      options[name] = true;
      continue;
    }
    const value = eq >= 0 ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined || value === '') throw new UsageError(`--${name} needs a value (${s.placeholder ?? 'VALUE'})`);
    options[name] = value;
  }
  return { positionals, options };
}

/** The help lines of a command's options, aligned. */
export function describeOptions(spec: Record<string, OptionSpec>): string {
  const rows = Object.entries(spec).map(([name, s]) => [`--${name}${s.value ? ` ${s.placeholder ?? 'VALUE'}` : ''}`, s.description]);
  const width = Math.max(0, ...rows.map(([l]) => l.length));
  return rows.map(([l, d]) => `  ${l.padEnd(width)}  ${d}`).join('\n');
}
