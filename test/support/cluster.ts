// Talking to the members of a Tally cluster in e2e tests: GraphQL, GET /cluster, metrics, waiting.
import { sleep } from './tally-process.js';

export interface Report {
  instanceId: string;
  clustered: boolean;
  epoch: number;
  partitionCount: number;
  members: { instanceId: string; url: string; self: boolean; active: number[]; standby?: number[] }[];
  lag: { partition: number; lag: number }[];
}

export async function gql<T>(url: string, query: string, variables?: Record<string, unknown>): Promise<{ data?: T; errors?: { message: string; extensions?: Record<string, unknown> }[] }> {
  const res = await fetch(`${url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query, variables }) });
  return (await res.json()) as { data?: T; errors?: { message: string; extensions?: Record<string, unknown> }[] };
}

export async function data<T>(url: string, query: string, variables?: Record<string, unknown>): Promise<T> {
  const r = await gql<T>(url, query, variables);
  if (r.errors?.length) throw new Error(JSON.stringify(r.errors));
  return r.data!;
}

export async function clusterOf(url: string): Promise<Report> {
  const res = await fetch(`${url}/cluster`);
  return (await res.json()) as Report;
}

/** The map without the answering instance's own view (self flag, lag). */
export const mapOf = (r: Report) => ({ epoch: r.epoch, partitionCount: r.partitionCount, members: r.members.map((m) => ({ instanceId: m.instanceId, url: m.url, active: m.active })) });

export async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const started = Date.now();
  let lastError: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}${lastError ? `; last error: ${String(lastError)}` : ''}`);
    await sleep(200);
  }
}

/** The sum of a Prometheus metric's samples (every label set) in a /metrics text. */
export function metric(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split('\n')) if (line.startsWith(`${name} `) || line.startsWith(`${name}{`)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  return sum;
}

