// Settings errors name the variable and quote the value found, so a bad value is found at once.
import { loadLimits } from './limits.js';
import { loadSettings, SettingsError } from './settings.js';

const problemsOf = (env: NodeJS.ProcessEnv): string[] => {
  const problems: string[] = [];
  loadLimits(env, problems);
  return problems;
};

describe('loadLimits', () => {
  it('reads the onlineFeatures entity cap and the live leaderboard rate, with their defaults', () => {
    expect(loadLimits({}, [])).toMatchObject({ maxOnlineEntities: 1_000, leaderboardMaxHz: 10 });
    expect(loadLimits({ TALLY_MAX_ONLINE_ENTITIES: '50', TALLY_LEADERBOARD_MAX_HZ: '0.5' }, [])).toMatchObject({ maxOnlineEntities: 50, leaderboardMaxHz: 0.5 });
  });

  it.each([
    ['TALLY_MAX_ONLINE_ENTITIES', 'many', 'TALLY_MAX_ONLINE_ENTITIES: "many" must be an integer >= 1'],
    ['TALLY_MAX_ONLINE_ENTITIES', '0', 'TALLY_MAX_ONLINE_ENTITIES: "0" must be an integer >= 1'],
    ['TALLY_MAX_ONLINE_ENTITIES', '2.5', 'TALLY_MAX_ONLINE_ENTITIES: "2.5" must be an integer >= 1'],
    ['TALLY_LEADERBOARD_MAX_HZ', 'fast', 'TALLY_LEADERBOARD_MAX_HZ: "fast" must be a number of times per second above 0 and at most 1000 (e.g. 10, 0.5)'],
    ['TALLY_LEADERBOARD_MAX_HZ', '0', 'TALLY_LEADERBOARD_MAX_HZ: "0" must be a number of times per second above 0 and at most 1000 (e.g. 10, 0.5)'],
    ['TALLY_LEADERBOARD_MAX_HZ', ' ', 'TALLY_LEADERBOARD_MAX_HZ: " " must be a number of times per second above 0 and at most 1000 (e.g. 10, 0.5)'],
    ['TALLY_LEADERBOARD_MAX_HZ', '5000', 'TALLY_LEADERBOARD_MAX_HZ: "5000" must be a number of times per second above 0 and at most 1000 (e.g. 10, 0.5)'],
  ])('refuses %s=%j, quoting it', (name, value, problem) => {
    expect(problemsOf({ [name]: value })).toEqual([problem]);
  });

  it('stops start-up (loadSettings) listing both, values quoted, with the other problems', () => {
    let error: unknown;
    try {
      loadSettings({ TALLY_MAX_ONLINE_ENTITIES: 'x', TALLY_LEADERBOARD_MAX_HZ: 'NaN', PORT: 'eighty' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(SettingsError);
    expect((error as SettingsError).problems).toEqual([
      'PORT: "eighty" is not a port number (0-65535)',
      'TALLY_MAX_ONLINE_ENTITIES: "x" must be an integer >= 1',
      'TALLY_LEADERBOARD_MAX_HZ: "NaN" must be a number of times per second above 0 and at most 1000 (e.g. 10, 0.5)',
    ]);
  });

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
