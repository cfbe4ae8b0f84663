// A minimal Tally client for the examples: GraphQL over HTTP, HTTP ingest, and (when
// KAFKA_BROKERS is set) producing events to Kafka instead. Uses only fetch and kafkajs.
//
//   TALLY_URL      where Tally listens (default http://localhost:4000)
//   TALLY_API_KEY  sent as `Authorization: Bearer <key>` when Tally has TALLY_API_KEYS set
//   KAFKA_BROKERS  when set, sendEvents() produces to Kafka (topic = source name) instead of HTTP
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Kafka, logLevel, Partitioners } from 'kafkajs';

export interface TallyEndpoint {
  /** Base URL, e.g. http://localhost:4000 (GraphQL is at /graphql). */
  url: string;
  apiKey?: string;
}

export function endpointFromEnv(env: NodeJS.ProcessEnv = process.env): TallyEndpoint {
  return { url: (env.TALLY_URL || 'http://localhost:4000').replace(/\/+$/, ''), apiKey: env.TALLY_API_KEY || undefined };
}

function headers(endpoint: TallyEndpoint, contentType: string): Record<string, string> {
  return { 'content-type': contentType, ...(endpoint.apiKey ? { authorization: `Bearer ${endpoint.apiKey}` } : {}) };
}

/** Runs one GraphQL operation and returns `data`; throws with the server's messages on errors. */
export async function graphql<T>(endpoint: TallyEndpoint, query: string, variables?: Record<string, unknown>): Promise<T> {
  const res = await fetch(`${endpoint.url}/graphql`, { method: 'POST', headers: headers(endpoint, 'application/json'), body: JSON.stringify({ query, variables }) });
  const body = (await res.json()) as { data?: T; errors?: { message: string }[] };
  if (body.errors?.length) throw new Error(`Tally answered with errors: ${body.errors.map((e) => e.message).join('; ')}`);
  if (!res.ok || body.data === undefined) throw new Error(`Tally answered HTTP ${res.status} without data`);
  return body.data;
}

export interface IngestResult {
  accepted: number;
  rejected: number;
  errors: { index: number; message: string }[];
}

/** Events per HTTP ingest request (the server takes at most 10,000). */
const HTTP_BATCH = 5_000;

/** POSTs events to /ingest/{source} as NDJSON, in batches; returns the summed counts. */
export async function ingest(endpoint: TallyEndpoint, source: string, events: readonly object[]): Promise<IngestResult> {
  const total: IngestResult = { accepted: 0, rejected: 0, errors: [] };
  for (let i = 0; i < events.length; i += HTTP_BATCH) {
    const batch = events.slice(i, i + HTTP_BATCH);
    const res = await fetch(`${endpoint.url}/ingest/${encodeURIComponent(source)}`, {
      method: 'POST',
      headers: headers(endpoint, 'application/x-ndjson'),
      body: batch.map((e) => JSON.stringify(e)).join('\n'),
    });
    if (!res.ok) throw new Error(`POST /ingest/${source} answered HTTP ${res.status}: ${await res.text()}`);
    const r = (await res.json()) as IngestResult;
    total.accepted += r.accepted;
    total.rejected += r.rejected;
    total.errors.push(...r.errors.map((e) => ({ index: e.index + i, message: e.message })));
  }
  return total;
}

/**
 * Sends events of one source: produced to Kafka topic `source` keyed by `keyField` when
 * KAFKA_BROKERS is set (Tally must run with the same brokers), else over HTTP ingest.
 * Returns a one-line summary for the console.
 */
export async function sendEvents(endpoint: TallyEndpoint, source: string, events: readonly Record<string, unknown>[], keyField: string): Promise<string> {
  const brokers = process.env.KAFKA_BROKERS?.split(',').map((b) => b.trim()).filter(Boolean) ?? [];
  if (brokers.length === 0) {
    const r = await ingest(endpoint, source, events);
    const reasons = [...new Set(r.errors.map((e) => e.message.split(':')[0]))];
    return `${source}: ${r.accepted} accepted, ${r.rejected} refused${reasons.length ? ` (${reasons.join(', ')})` : ''} over HTTP`;
  }
  const producer = new Kafka({ clientId: 'tally-example', brokers, logLevel: logLevel.ERROR }).producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  try {
    for (let i = 0; i < events.length; i += HTTP_BATCH) {
      const batch = events.slice(i, i + HTTP_BATCH);
      await producer.send({ topic: source, messages: batch.map((e) => ({ key: String(e[keyField]), value: JSON.stringify(e) })) });
    }
  } finally {
    await producer.disconnect();
  }
  return `${source}: ${events.length} produced to Kafka (${brokers.join(',')})`;
}

/** True when the module at `metaUrl` is the script node was started with. */
export function isMain(metaUrl: string): boolean {
  const script = process.argv[1];
  return script !== undefined && fileURLToPath(metaUrl) === resolve(script);
}
