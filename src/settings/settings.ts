/**
 * Settings from the environment (API.md "Running"). `loadSettings` checks them all and
 * throws one SettingsError listing every problem, so start-up fails once, completely.
 */
import { DEMO_PIPELINE_PATH } from '../pipeline/load.js';
import { loadCluster, type ClusterSettings } from './cluster.js';
import { loadDurability, type DurabilitySettings } from './durability.js';
import { loadLimits, type Limits } from './limits.js';

export type Role = 'reader' | 'writer' | 'admin';
export const ROLES: readonly Role[] = ['reader', 'writer', 'admin'];

export interface Settings {
  port: number;
  host: string;
  pipelinePath: string;
  /** Empty = embedded mode (no Kafka). */
  kafkaBrokers: string[];
  kafkaGroupId: string;
  /**
   * TALLY_KAFKA_STALL_MS: how long the Kafka consumer may go without a fetch response (broker
   * gone, no partition leader, consumer crashed and restarting) before Tally reports itself
   * degraded: /health `degraded`, /readyz 503, answers stale.
   */
  kafkaStallMs: number;
  dataDir?: string;
  fsync: 'always' | 'everysec';
  /**
   * The served-feature log (README "Training data"): TALLY_SERVED_LOG=1 writes every
   * onlineFeatures answer (a request may also ask with `log: true`) to the Kafka topic
   * TALLY_SERVED_TOPIC, or in embedded mode to `<TALLY_DATA_DIR>/served/served.ndjson`.
   */
  servedLog: { always: boolean; topic: string };
  /** Undefined = open (no key needed). */
  apiKeys?: Map<string, Role>;
  /** Demand control, rate limits, WebSocket caps, memory budget (limits.ts). */
  limits: Limits;
  /** Snapshots and recovery (durability.ts). */
  durability: DurabilitySettings;
  /** Cluster membership (cluster.ts); a member only with TALLY_ADVERTISED_URL and KAFKA_BROKERS. */
  cluster: ClusterSettings;
  /**
   * TALLY_DEMO: run the demo event generator in-process (src/demo). Undefined = not said;
   * main.ts turns it on in embedded mode with the bundled demo pipeline.
   */
  demo?: boolean;
}

/** TALLY_KAFKA_STALL_MS: default and range. The consumer's idle fetches return every 100 ms, so a healthy idle consumer is far inside the bound. */
export const DEFAULT_KAFKA_STALL_MS = 5_000;
export const MIN_KAFKA_STALL_MS = 1_000;
export const MAX_KAFKA_STALL_MS = 600_000;

export class SettingsError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid settings:\n  - ${problems.join('\n  - ')}`);
    this.name = 'SettingsError';
  }
}

export function loadSettings(env: NodeJS.ProcessEnv = process.env): Settings {
  const problems: string[] = [];
  const port = env.PORT === undefined || env.PORT === '' ? 4000 : Number(env.PORT);
  if (!Number.isInteger(port) || port < 0 || port > 65535) problems.push(`PORT: "${env.PORT}" is not a port number (0-65535)`);
  const fsync = (env.TALLY_FSYNC || 'everysec') as Settings['fsync'];
  if (fsync !== 'always' && fsync !== 'everysec') problems.push(`TALLY_FSYNC: "${env.TALLY_FSYNC}" must be always or everysec`);
  const kafkaBrokers = (env.KAFKA_BROKERS ?? '').split(',').map((b) => b.trim()).filter((b) => b.length > 0);
  for (const b of kafkaBrokers) if (!/^[^:\s]+:\d+$/.test(b)) problems.push(`KAFKA_BROKERS: "${b}" is not host:port`);
  let kafkaStallMs = DEFAULT_KAFKA_STALL_MS;
  if (env.TALLY_KAFKA_STALL_MS !== undefined && env.TALLY_KAFKA_STALL_MS !== '') {
    const n = Number(env.TALLY_KAFKA_STALL_MS);
    if (!/^\d+$/.test(env.TALLY_KAFKA_STALL_MS) || n < MIN_KAFKA_STALL_MS || n > MAX_KAFKA_STALL_MS) {
      problems.push(`TALLY_KAFKA_STALL_MS: "${env.TALLY_KAFKA_STALL_MS}" must be milliseconds from ${MIN_KAFKA_STALL_MS} to ${MAX_KAFKA_STALL_MS}`);
    } else kafkaStallMs = n;
  }
  let apiKeys: Map<string, Role> | undefined;
  if (env.TALLY_API_KEYS) {
    apiKeys = new Map();
    env.TALLY_API_KEYS.split(',').forEach((entry, i) => {
      const at = entry.lastIndexOf(':');
      const key = entry.slice(0, at).trim();
      const role = entry.slice(at + 1).trim() as Role;
      // Never echo a key: name the entry by position only.
      if (at <= 0 || key.length === 0) problems.push(`TALLY_API_KEYS: entry ${i + 1} is not key:role`);
      else if (!ROLES.includes(role)) problems.push(`TALLY_API_KEYS: entry ${i + 1} has role "${role}"; roles are ${ROLES.join(', ')}`);
      else if (key.length < 16) problems.push(`TALLY_API_KEYS: entry ${i + 1} has a key shorter than 16 characters`);
      else apiKeys!.set(key, role);
    });
  }
  const demo = env.TALLY_DEMO === undefined || env.TALLY_DEMO === '' ? undefined : parseSwitch(env.TALLY_DEMO);
  if (demo === null) problems.push(`TALLY_DEMO: "${env.TALLY_DEMO}" must be 1 or 0 (true/false, on/off)`);
  const servedAlways = env.TALLY_SERVED_LOG === undefined || env.TALLY_SERVED_LOG === '' ? false : parseSwitch(env.TALLY_SERVED_LOG);
  if (servedAlways === null) problems.push(`TALLY_SERVED_LOG: "${env.TALLY_SERVED_LOG}" must be 1 or 0 (true/false, on/off)`);
  const servedTopic = env.TALLY_SERVED_TOPIC || 'tally.served';
  if (!/^[A-Za-z0-9._-]{1,249}$/.test(servedTopic)) problems.push(`TALLY_SERVED_TOPIC: "${servedTopic}" is not a Kafka topic name (letters, digits, ".", "_", "-")`);
  if (servedAlways === true && !env.KAFKA_BROKERS?.trim() && !env.TALLY_DATA_DIR) problems.push('TALLY_SERVED_LOG: "1" needs somewhere to write: KAFKA_BROKERS (a topic) or TALLY_DATA_DIR (a file)');
  const limits = loadLimits(env, problems);
  const durability = loadDurability(env, problems);
  const cluster = loadCluster(env, kafkaBrokers, problems);
  if (problems.length > 0) throw new SettingsError(problems);
  return {
    port,
    host: env.HOST || '0.0.0.0',
    pipelinePath: env.TALLY_PIPELINE || DEMO_PIPELINE_PATH,
    kafkaBrokers,
    kafkaGroupId: env.KAFKA_GROUP_ID || 'tally',
    kafkaStallMs,
    dataDir: env.TALLY_DATA_DIR || undefined,
    servedLog: { always: servedAlways === true, topic: servedTopic },
    fsync,
    apiKeys,
    limits,
    durability,
    cluster,
    demo: demo ?? undefined,
  };
}

/** 1/true/on/yes -> true, 0/false/off/no -> false, anything else -> null. */
function parseSwitch(value: string): boolean | null {
  const v = value.trim().toLowerCase();
  if (['1', 'true', 'on', 'yes'].includes(v)) return true;
  if (['0', 'false', 'off', 'no'].includes(v)) return false;
  return null;
}
