// Settings errors name the variable and quote the value found, so a bad value is found at once.
import { loadLimits } from './limits.js';

const problemsOf = (env: NodeJS.ProcessEnv): string[] => {
  const problems: string[] = [];
  loadLimits(env, problems);
  return problems;
};

describe('loadLimits', () => {
  it('quotes every value it refuses, a memory budget above what the heap allows as written', () => {
    expect(problemsOf({ TALLY_GRAPHQL_MAX_DEPTH: 'deep', TALLY_RATE_LIMIT: '-1', TALLY_WS_INIT_TIMEOUT: '3 secs', TALLY_MEMORY_BUDGET: 'lots' })).toEqual([
      'TALLY_GRAPHQL_MAX_DEPTH: "deep" must be an integer >= 2',
      'TALLY_RATE_LIMIT: "-1" must be an integer >= 0',
      'TALLY_WS_INIT_TIMEOUT: "3 secs" is not a duration (e.g. 500ms, 3s, 1m)',
      'TALLY_MEMORY_BUDGET: "lots" is not a size (e.g. 512mb, 2gb) or auto',
    ]);
    expect(problemsOf({ TALLY_MEMORY_BUDGET: '4096GB' })).toEqual([expect.stringMatching(/^TALLY_MEMORY_BUDGET: "4096GB" \(4096gb\) is above 90 % of the V8 heap limit \(/)]);
  });
});
