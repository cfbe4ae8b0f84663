/**
 * Cluster settings (README "Scaling out"): TALLY_ADVERTISED_URL with Kafka makes this
 * instance a member of a Tally cluster (its consumer group); without it Tally runs as one
 * instance, exactly as before. Read with the other settings; every problem is listed at start.
 */
import { hostname } from 'node:os';
import { parseDuration } from '../pipeline/duration.js';

export interface ClusterSettings {
  /** TALLY_INSTANCE_ID: this instance's stable name; the same id gets its partitions back after a restart. Default: the host name. */
  instanceId: string;
  /** TALLY_ADVERTISED_URL: the base URL peers reach this instance at (http://host:port); set = cluster member. */
  advertisedUrl?: string;
  /** TALLY_PARTITIONS: partitions of the source (and DLQ) topics Tally creates; default 12 in a cluster, the broker's default otherwise. */
  partitions?: number;
  /** TALLY_STANDBY_REPLICAS: warm copies of each partition on other members (0 or 1). */
  standbyReplicas: number;
  /** TALLY_CLUSTER_SECRET: the shared secret peers present when they forward a request (required in a cluster). */
  secret?: string;
  /** TALLY_STATE_INTERVAL: time between writes of the served partitions' state to the state topic (ms); 0 = at graceful stops only. */
  stateIntervalMs: number;
}

/** True when the settings make this instance a cluster member. */
export function isClusterMember(c: ClusterSettings, kafkaBrokers: readonly string[]): c is ClusterSettings & { advertisedUrl: string; secret: string } {
  return c.advertisedUrl !== undefined && kafkaBrokers.length > 0;
}

export const DEFAULT_CLUSTER_PARTITIONS = 12;
export const MAX_PARTITIONS = 10_000;
export const MIN_CLUSTER_SECRET_LENGTH = 16;
export const DEFAULT_STATE_INTERVAL_MS = 60_000;

export function loadCluster(env: NodeJS.ProcessEnv, kafkaBrokers: readonly string[], problems: string[]): ClusterSettings {
  const given = (name: string) => env[name] !== undefined && env[name] !== '';
  let instanceId = hostname();
  if (given('TALLY_INSTANCE_ID')) {
    const v = env.TALLY_INSTANCE_ID!;
    if (!/^[A-Za-z0-9._:-]{1,128}$/.test(v)) problems.push(`TALLY_INSTANCE_ID: "${v}" must be 1 to 128 letters, digits, ".", "_", ":" or "-"`);
    else instanceId = v;
  }
  let advertisedUrl: string | undefined;
  if (given('TALLY_ADVERTISED_URL')) {
    const v = env.TALLY_ADVERTISED_URL!;
    let url: URL | undefined;
    try {
      url = new URL(v);
    } catch {
      url = undefined;
    }
    if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.search !== '' || url.hash !== '' || url.username !== '') {
      problems.push(`TALLY_ADVERTISED_URL: "${v}" is not an http(s) base URL peers can reach (e.g. http://tally-1:4000)`);
    } else advertisedUrl = v.replace(/\/+$/, '');
    if (kafkaBrokers.length === 0) problems.push(`TALLY_ADVERTISED_URL: "${v}" makes a cluster member, which needs KAFKA_BROKERS (the members are one consumer group)`);
  }
  const member = advertisedUrl !== undefined && kafkaBrokers.length > 0;
  let partitions: number | undefined = member ? DEFAULT_CLUSTER_PARTITIONS : undefined;
  if (given('TALLY_PARTITIONS')) {
    const v = env.TALLY_PARTITIONS!;
    const n = Number(v);
    if (!/^\d+$/.test(v) || n < 1 || n > MAX_PARTITIONS) problems.push(`TALLY_PARTITIONS: "${v}" must be a whole number from 1 to ${MAX_PARTITIONS}`);
    else partitions = n;
  }
  let standbyReplicas = 0;
  if (given('TALLY_STANDBY_REPLICAS')) {
    const v = env.TALLY_STANDBY_REPLICAS!;
    if (!/^\d+$/.test(v)) problems.push(`TALLY_STANDBY_REPLICAS: "${v}" must be a whole number >= 0`);
    else if (Number(v) > 1) problems.push(`TALLY_STANDBY_REPLICAS: "${v}": at most 1 standby replica per partition in this version`);
    else standbyReplicas = Number(v);
  }
  let secret: string | undefined;
  if (given('TALLY_CLUSTER_SECRET')) {
    // Never echo a secret.
    if (env.TALLY_CLUSTER_SECRET!.length < MIN_CLUSTER_SECRET_LENGTH) problems.push(`TALLY_CLUSTER_SECRET: shorter than ${MIN_CLUSTER_SECRET_LENGTH} characters`);
    else secret = env.TALLY_CLUSTER_SECRET;
  } else if (member) problems.push('TALLY_CLUSTER_SECRET: required in a cluster (TALLY_ADVERTISED_URL with KAFKA_BROKERS): peers authenticate forwarded requests with it');
  let stateIntervalMs = DEFAULT_STATE_INTERVAL_MS;
  if (given('TALLY_STATE_INTERVAL')) {
    const v = env.TALLY_STATE_INTERVAL!.trim();
    const ms = v === '0' ? 0 : parseDuration(v);
    if (ms === undefined || (ms !== 0 && ms < 1_000)) problems.push(`TALLY_STATE_INTERVAL: "${v}" must be a duration of at least 1s (e.g. 30s, 5m) or 0`);
    else stateIntervalMs = ms;
  }
  return { instanceId, advertisedUrl, partitions, standbyReplicas, secret, stateIntervalMs };
}
