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

describe('cluster settings', () => {
  const member = { KAFKA_BROKERS: '127.0.0.1:9092', TALLY_ADVERTISED_URL: 'http://tally-1:4000/', TALLY_CLUSTER_SECRET: 's'.repeat(16) };

  it('without TALLY_ADVERTISED_URL: no cluster, no partition count, the host name as instance id', () => {
    const c = loadSettings({ KAFKA_BROKERS: '127.0.0.1:9092' }).cluster;
    expect(c.advertisedUrl).toBeUndefined();
    expect(c.partitions).toBeUndefined();
    expect(c.standbyReplicas).toBe(0);
    expect(c.instanceId.length).toBeGreaterThan(0);
  });

  it('a member: URL without its trailing slash, 12 partitions unless told, the given id', () => {
    expect(loadSettings({ ...member, TALLY_INSTANCE_ID: 'a-1' }).cluster).toEqual({ instanceId: 'a-1', advertisedUrl: 'http://tally-1:4000', partitions: 12, standbyReplicas: 0, secret: 's'.repeat(16), stateIntervalMs: 60_000 });
    expect(loadSettings({ ...member, TALLY_STATE_INTERVAL: '5s' }).cluster.stateIntervalMs).toBe(5_000);
    expect(loadSettings({ ...member, TALLY_STATE_INTERVAL: '0' }).cluster.stateIntervalMs).toBe(0);
    expect(loadSettings({ ...member, TALLY_STANDBY_REPLICAS: '1' }).cluster.standbyReplicas).toBe(1);
    expect(loadSettings({ ...member, TALLY_PARTITIONS: '3', TALLY_STANDBY_REPLICAS: '0' }).cluster.partitions).toBe(3);
  });

  it('lists every problem at once, never echoing the secret', () => {
    expect(problemsOf({ TALLY_ADVERTISED_URL: 'ftp://x', TALLY_INSTANCE_ID: 'has space', TALLY_PARTITIONS: '0', TALLY_STANDBY_REPLICAS: '2', TALLY_CLUSTER_SECRET: 'short-secret' })).toEqual([
      'TALLY_INSTANCE_ID: "has space" must be 1 to 128 letters, digits, ".", "_", ":" or "-"',
      'TALLY_ADVERTISED_URL: "ftp://x" is not an http(s) base URL peers can reach (e.g. http://tally-1:4000)',
      'TALLY_ADVERTISED_URL: "ftp://x" makes a cluster member, which needs KAFKA_BROKERS (the members are one consumer group)',
      'TALLY_PARTITIONS: "0" must be a whole number from 1 to 10000',
      'TALLY_STANDBY_REPLICAS: "2": at most 1 standby replica per partition in this version',
      'TALLY_CLUSTER_SECRET: shorter than 16 characters',
    ]);
    expect(problemsOf({ ...member, TALLY_CLUSTER_SECRET: '' })).toEqual([
      'TALLY_CLUSTER_SECRET: required in a cluster (TALLY_ADVERTISED_URL with KAFKA_BROKERS): peers authenticate forwarded requests with it',
    ]);
    expect(problemsOf({ ...member, TALLY_STANDBY_REPLICAS: 'x' })).toEqual(['TALLY_STANDBY_REPLICAS: "x" must be a whole number >= 0']);
    expect(problemsOf({ ...member, TALLY_STATE_INTERVAL: '500ms' })).toEqual(['TALLY_STATE_INTERVAL: "500ms" must be a duration of at least 1s (e.g. 30s, 5m) or 0']);
  });
});
