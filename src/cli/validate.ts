/** `tally validate <pipeline>...`: the checks Tally runs at start-up, with the same messages. */
import { loadPipeline, PipelineError } from '../pipeline/load.js';
import type { Pipeline } from '../pipeline/pipeline.js';
import type { Command } from './command.js';
import { EXIT, plural } from './output.js';

export const validateCommand: Command = {
  name: 'validate',
  usage: 'tally validate <pipeline.yaml>...',
  summary: 'check pipeline files as start-up does (every problem, by path)',
  help: `Reads each pipeline file (YAML or JSON) and checks it exactly as Tally does at
start-up: every problem is listed with its path, e.g.
  features[1].windows[0]: "5x" is not a duration (e.g. 30s, 5m, 1h, 7d or lifetime)
Exit status: 0 when every file is valid, 1 when any is not, 2 on wrong usage.`,
  options: {},
  async run({ positionals }, io) {
    if (positionals.length === 0) {
      io.err('tally validate: name at least one pipeline file\nusage: tally validate <pipeline.yaml>...\n');
      return EXIT.usage;
    }
    let failed = 0;
    for (const path of positionals) {
      try {
        io.out(`${path}: ok — ${summarize(loadPipeline(path))}\n`);
      } catch (err) {
        if (!(err instanceof PipelineError)) throw err;
        failed++;
        io.err(`${err.message}\n`);
      }
    }
    return failed > 0 ? EXIT.failed : EXIT.ok;
  },
};

/** "4 sources, 6 features, 1 view, 2 leaderboards, 1 geo index (2 fences)". */
export function summarize(p: Pipeline): string {
  const fences = p.geo.reduce((n, g) => n + g.fences.length, 0);
  const parts = [
    plural(p.sources.filter((s) => !s.derivedFrom).length, 'source'),
    plural(p.features.length, 'feature'),
    plural(p.views.length, 'view'),
    plural(p.leaderboards.length, 'leaderboard'),
    `${plural(p.geo.length, 'geo index', 'geo indexes')}${fences > 0 ? ` (${plural(fences, 'fence')})` : ''}`,
  ];
  return parts.join(', ');
}
