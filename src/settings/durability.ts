/**
 * Durability settings (README "Durability"): how often snapshots are written and how many
 * are kept, what to do when Kafka no longer holds what a snapshot needs, and the consumer's
 * session timeout. Read with the other settings; every problem is listed at start.
 */
import { parseDuration } from '../pipeline/duration.js';

export interface DurabilitySettings {
  /** TALLY_SNAPSHOT_INTERVAL: time between snapshots; 0 = only on shutdown and on demand. */
  snapshotIntervalMs: number;
  /** TALLY_SNAPSHOT_KEEP: snapshot generations kept (at least 2, so one can fall back). */
  snapshotKeep: number;
  /** TALLY_REBUILD_FROM_EARLIEST: start empty and read Kafka from the earliest offsets when a snapshot's offsets are gone. */
  rebuildFromEarliest: boolean;
  /** KAFKA_SESSION_TIMEOUT_MS: how long a silent consumer keeps its partitions. */
  kafkaSessionTimeoutMs: number;
  /** TALLY_SNAPSHOT_WRITE_DELAY_MS: test hook only — a pause after each chunk written, to widen the write. */
  snapshotWriteDelayMs: number;
}

export const DEFAULT_SNAPSHOT_INTERVAL_MS = 60_000;
/** The newest, plus one to fall back to, plus one more in case both newer ones are bad. */
export const DEFAULT_SNAPSHOT_KEEP = 3;
/** kafkajs' default; the broker allows 6 s to 300 s (group.min/max.session.timeout.ms). */
export const DEFAULT_KAFKA_SESSION_TIMEOUT_MS = 30_000;

export function loadDurability(env: NodeJS.ProcessEnv, problems: string[]): DurabilitySettings {
  const given = (name: string) => env[name] !== undefined && env[name] !== '';
  let snapshotIntervalMs = DEFAULT_SNAPSHOT_INTERVAL_MS;
  if (given('TALLY_SNAPSHOT_INTERVAL')) {
    const v = env.TALLY_SNAPSHOT_INTERVAL!.trim();
    const ms = v === '0' ? 0 : parseDuration(v);
    if (ms === undefined || (ms !== 0 && ms < 100)) problems.push(`TALLY_SNAPSHOT_INTERVAL: "${v}" must be a duration of at least 100ms (e.g. 30s, 5m) or 0`);
    else snapshotIntervalMs = ms;
  }
  let snapshotKeep = DEFAULT_SNAPSHOT_KEEP;
  if (given('TALLY_SNAPSHOT_KEEP')) {
    const n = Number(env.TALLY_SNAPSHOT_KEEP);
    if (!Number.isInteger(n) || n < 2 || n > 1000) problems.push(`TALLY_SNAPSHOT_KEEP: "${env.TALLY_SNAPSHOT_KEEP}" must be a whole number from 2 to 1000`);
    else snapshotKeep = n;
  }
  let rebuildFromEarliest = false;
  if (given('TALLY_REBUILD_FROM_EARLIEST')) {
    const v = env.TALLY_REBUILD_FROM_EARLIEST!.trim().toLowerCase();
    if (['1', 'true', 'yes', 'on'].includes(v)) rebuildFromEarliest = true;
    else if (!['0', 'false', 'no', 'off'].includes(v)) problems.push(`TALLY_REBUILD_FROM_EARLIEST: "${env.TALLY_REBUILD_FROM_EARLIEST}" must be 1 or 0`);
  }
  let kafkaSessionTimeoutMs = DEFAULT_KAFKA_SESSION_TIMEOUT_MS;
  if (given('KAFKA_SESSION_TIMEOUT_MS')) {
    const n = Number(env.KAFKA_SESSION_TIMEOUT_MS);
    if (!Number.isInteger(n) || n < 6_000 || n > 300_000) problems.push(`KAFKA_SESSION_TIMEOUT_MS: "${env.KAFKA_SESSION_TIMEOUT_MS}" must be milliseconds from 6000 to 300000`);
    else kafkaSessionTimeoutMs = n;
  }
  let snapshotWriteDelayMs = 0;
  if (given('TALLY_SNAPSHOT_WRITE_DELAY_MS')) {
    const n = Number(env.TALLY_SNAPSHOT_WRITE_DELAY_MS);
    if (!Number.isInteger(n) || n < 0 || n > 10_000) problems.push(`TALLY_SNAPSHOT_WRITE_DELAY_MS: "${env.TALLY_SNAPSHOT_WRITE_DELAY_MS}" must be milliseconds from 0 to 10000`);
    else snapshotWriteDelayMs = n;
  }
  return { snapshotIntervalMs, snapshotKeep, rebuildFromEarliest, kafkaSessionTimeoutMs, snapshotWriteDelayMs };
}
