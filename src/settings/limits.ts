/**
 * Limits that keep one client, one query or one input from taking the service down
 * (SECURITY.md): GraphQL demand control, rate limits, WebSocket caps and the memory budget.
 * Read from the environment with the other settings; every problem is listed at start.
 */
import { getHeapStatistics } from 'node:v8';
import { parseDuration } from '../pipeline/duration.js';

export interface Limits {
  /** Lexical tokens in one GraphQL document (bounds parsing and validation work). */
  maxTokens: number;
  /** Nesting of selections in one operation, fragments expanded (a root field is depth 1). */
  maxDepth: number;
  /** Aliased fields in one operation, fragments expanded. */
  maxAliases: number;
  /** Estimated cost of one operation (see src/graphql/security/document-limits.ts). */
  maxCost: number;
  /** Cost units each key may spend per second (token bucket holding one second's worth); 0 = no limit. */
  rateLimit: number;
  /** Time a WebSocket has to send `connection_init` before it is closed with 4408. */
  wsInitTimeoutMs: number;
  /** Open WebSocket connections per key. */
  wsMaxConnectionsPerKey: number;
  /** Live operations (subscriptions) per WebSocket connection. */
  wsMaxSubscriptions: number;
  /** A connection whose send buffer has not drained for this long is dropped. */
  wsSlowConsumerTimeoutMs: number;
  /** Heap + external memory above which new entities are refused. */
  memoryBudgetBytes: number;
  /** Entities one `onlineFeatures` call may ask for. */
  maxOnlineEntities: number;
  /** Pushes per second of one live leaderboard top N (`leaderboardChanged`), at most. */
  leaderboardMaxHz: number;
}

/** Highest TALLY_LEADERBOARD_MAX_HZ: more often than each millisecond means nothing to a timer. */
const MAX_LEADERBOARD_HZ = 1_000;

/** Default memory budget: this share of the V8 heap limit, leaving room for requests and GC. */
export const DEFAULT_BUDGET_SHARE = 0.75;
/** An explicit budget may not exceed this share of the heap limit: V8 would fail first. */
const MAX_BUDGET_SHARE = 0.9;

const UNITS: Record<string, number> = { b: 1, kb: 1024, k: 1024, mb: 1024 ** 2, m: 1024 ** 2, gb: 1024 ** 3, g: 1024 ** 3 };

/** Parses `512mb`, `2gb`, `65536` (bytes; binary units); undefined when not a size. */
export function parseBytes(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*(b|kb?|mb?|gb?)?$/i.exec(text.trim());
  if (!m) return undefined;
  const bytes = Math.floor(Number(m[1]) * UNITS[(m[2] ?? 'b').toLowerCase()]);
  return bytes > 0 && Number.isSafeInteger(bytes) ? bytes : undefined;
}

/** Formats bytes for messages: `512mb`, `1.5gb`. */
export function formatBytes(bytes: number): string {
  if (bytes >= 1024 ** 3) return `${+(bytes / 1024 ** 3).toFixed(2)}gb`;
  if (bytes >= 1024 ** 2) return `${+(bytes / 1024 ** 2).toFixed(1)}mb`;
  return `${Math.round(bytes / 1024)}kb`;
}

export function loadLimits(env: NodeJS.ProcessEnv, problems: string[]): Limits {
  const int = (name: string, fallback: number, min: number): number => {
    const text = env[name];
    if (text === undefined || text === '') return fallback;
    const n = Number(text);
    if (!Number.isSafeInteger(n) || n < min) {
      problems.push(`${name}: "${text}" must be an integer >= ${min}`);
      return fallback;
    }
    return n;
  };
  const duration = (name: string, fallback: number): number => {
    const text = env[name];
    if (text === undefined || text === '') return fallback;
    const ms = parseDuration(text);
    if (ms === undefined) {
      problems.push(`${name}: "${text}" is not a duration (e.g. 500ms, 3s, 1m)`);
      return fallback;
    }
    return ms;
  };
  const rate = (name: string, fallback: number, max: number): number => {
    const text = env[name];
    if (text === undefined || text === '') return fallback;
    const n = Number(text);
    if (text.trim() === '' || !Number.isFinite(n) || n <= 0 || n > max) {
      problems.push(`${name}: "${text}" must be a number of times per second above 0 and at most ${max} (e.g. 10, 0.5)`);
      return fallback;
    }
    return n;
  };
  return {
    maxTokens: int('TALLY_GRAPHQL_MAX_TOKENS', 5_000, 100),
    maxDepth: int('TALLY_GRAPHQL_MAX_DEPTH', 8, 2),
    maxAliases: int('TALLY_GRAPHQL_MAX_ALIASES', 50, 0),
    maxCost: int('TALLY_GRAPHQL_MAX_COST', 50_000, 10),
    rateLimit: int('TALLY_RATE_LIMIT', 1_000_000, 0),
    wsInitTimeoutMs: duration('TALLY_WS_INIT_TIMEOUT', 3_000),
    wsMaxConnectionsPerKey: int('TALLY_WS_MAX_CONNECTIONS_PER_KEY', 100, 1),
    wsMaxSubscriptions: int('TALLY_WS_MAX_SUBSCRIPTIONS', 100, 1),
    wsSlowConsumerTimeoutMs: duration('TALLY_WS_SLOW_CONSUMER_TIMEOUT', 10_000),
    memoryBudgetBytes: memoryBudget(env.TALLY_MEMORY_BUDGET, problems),
    maxOnlineEntities: int('TALLY_MAX_ONLINE_ENTITIES', 1_000, 1),
    leaderboardMaxHz: rate('TALLY_LEADERBOARD_MAX_HZ', 10, MAX_LEADERBOARD_HZ),
  };
}

function memoryBudget(text: string | undefined, problems: string[]): number {
  const heapLimit = getHeapStatistics().heap_size_limit;
  if (text === undefined || text === '' || text === 'auto') return Math.floor(heapLimit * DEFAULT_BUDGET_SHARE);
  const bytes = parseBytes(text);
  if (bytes === undefined) {
    problems.push(`TALLY_MEMORY_BUDGET: "${text}" is not a size (e.g. 512mb, 2gb) or auto`);
    return Math.floor(heapLimit * DEFAULT_BUDGET_SHARE);
  }
  if (bytes > heapLimit * MAX_BUDGET_SHARE) {
    problems.push(
      `TALLY_MEMORY_BUDGET: "${text}" (${formatBytes(bytes)}) is above ${MAX_BUDGET_SHARE * 100} % of the V8 heap limit (${formatBytes(heapLimit)}); ` +
        'lower it or raise the limit with NODE_OPTIONS=--max-old-space-size=<MiB>',
    );
  }
  return bytes;
}
