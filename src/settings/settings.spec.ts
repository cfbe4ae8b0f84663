// TALLY_KAFKA_STALL_MS: the bound after which a consumer that cannot fetch makes Tally degraded.
import { DEFAULT_KAFKA_STALL_MS, loadSettings, SettingsError } from './settings.js';

const problemsOf = (env: NodeJS.ProcessEnv): string[] => {
  try {
    loadSettings(env);
    return [];
  } catch (err) {
    if (err instanceof SettingsError) return err.problems;
    throw err;
  }
};

describe('TALLY_KAFKA_STALL_MS', () => {
  it('defaults to 5 s and takes milliseconds from 1000 to 600000', () => {
    expect(DEFAULT_KAFKA_STALL_MS).toBe(5_000);
    expect(loadSettings({}).kafkaStallMs).toBe(5_000);
    expect(loadSettings({ TALLY_KAFKA_STALL_MS: '' }).kafkaStallMs).toBe(5_000);
    expect(loadSettings({ TALLY_KAFKA_STALL_MS: '1000' }).kafkaStallMs).toBe(1_000);
    expect(loadSettings({ TALLY_KAFKA_STALL_MS: '600000' }).kafkaStallMs).toBe(600_000);
  });

  it.each(['soon', '999', '600001', '2.5', '-5000', ' ', '5s', '1e4'])('refuses %j, quoting it, with the other problems', (value) => {
    expect(problemsOf({ TALLY_KAFKA_STALL_MS: value, PORT: 'x' })).toEqual([
      'PORT: "x" is not a port number (0-65535)',
      `TALLY_KAFKA_STALL_MS: "${value}" must be milliseconds from 1000 to 600000`,
    ]);
  });
});
