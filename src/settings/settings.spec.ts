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

describe('TALLY_SERVED_LOG and TALLY_SERVED_TOPIC', () => {
  it('is off by default, and on needs Kafka or a data directory to write to', () => {
    expect(loadSettings({}).servedLog).toEqual({ always: false, topic: 'tally.served' });
    expect(loadSettings({ TALLY_SERVED_LOG: '1', TALLY_DATA_DIR: '/tmp/x' }).servedLog).toEqual({ always: true, topic: 'tally.served' });
    expect(loadSettings({ TALLY_SERVED_LOG: 'on', KAFKA_BROKERS: '127.0.0.1:9092', TALLY_SERVED_TOPIC: 'ml.served' }).servedLog).toEqual({ always: true, topic: 'ml.served' });
    expect(problemsOf({ TALLY_SERVED_LOG: '1' })).toEqual(['TALLY_SERVED_LOG: "1" needs somewhere to write: KAFKA_BROKERS (a topic) or TALLY_DATA_DIR (a file)']);
  });

  it('refuses a bad switch or topic name, quoting it', () => {
    expect(problemsOf({ TALLY_SERVED_LOG: 'maybe', TALLY_SERVED_TOPIC: 'has space' })).toEqual([
      'TALLY_SERVED_LOG: "maybe" must be 1 or 0 (true/false, on/off)',
      'TALLY_SERVED_TOPIC: "has space" is not a Kafka topic name (letters, digits, ".", "_", "-")',
    ]);
  });
});
