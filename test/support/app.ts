// Starts the real Tally application in-process on a free port, and talks to it the way
// clients do: GraphQL over HTTP, graphql-ws subscriptions, plain HTTP for ingest and ops.
import type { INestApplication } from '@nestjs/common';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { baseUrl, createTally } from '../../src/bootstrap.js';
import { parsePipeline } from '../../src/pipeline/load.js';
import { loadSettings } from '../../src/settings/settings.js';

export interface RunningTally {
  app: INestApplication;
  url: string;
  close(): Promise<void>;
}

/**
 * Starts Tally with `pipelineYaml` and settings from `env` (port 0 = a free one); `clock`
 * replaces the wall clock (e.g. to pin "now" while a test compares reads with a model).
 */
export async function startTally(pipelineYaml: string, env: Record<string, string> = {}, opts: { clock?: () => number } = {}): Promise<RunningTally> {
  const settings = loadSettings({ PORT: '0', HOST: '127.0.0.1', ...env });
  const app = await createTally({ settings, pipeline: parsePipeline(pipelineYaml, 'test pipeline'), clock: opts.clock });
  const url = baseUrl(app);
  return { app, url, close: () => app.close() };
}

export interface GqlResponse<T = Record<string, unknown>> {
  data?: T;
  errors?: { message: string; extensions?: Record<string, unknown> }[];
}

export async function gql<T = Record<string, unknown>>(url: string, query: string, variables?: Record<string, unknown>, headers: Record<string, string> = {}): Promise<GqlResponse<T>> {
  const res = await fetch(`${url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ query, variables }) });
  return (await res.json()) as GqlResponse<T>;
}

/** Like gql, but fails the test on GraphQL errors and returns `data`. */
export async function gqlData<T = Record<string, unknown>>(url: string, query: string, variables?: Record<string, unknown>): Promise<T> {
  const r = await gql<T>(url, query, variables);
  if (r.errors?.length) throw new Error(`GraphQL errors: ${JSON.stringify(r.errors)}`);
  return r.data as T;
}

export function wsClient(url: string, connectionParams?: Record<string, unknown>): Client {
  return createClient({ url: `${url.replace(/^http/, 'ws')}/graphql`, webSocketImpl: WebSocket, connectionParams, retryAttempts: 0, lazy: false });
}

/** Subscribes and collects every `data` payload pushed; `next(n)` waits for the n-th. */
export function collect<T>(client: Client, query: string, variables?: Record<string, unknown>) {
  const items: T[] = [];
  const errors: unknown[] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  let acknowledged = false;
  const dispose = client.subscribe<T>(
    { query, variables },
    {
      next: (v) => {
        if (v.errors) errors.push(v.errors);
        if (v.data) items.push(v.data as T);
        for (const w of waiters.filter((w) => items.length >= w.n)) w.resolve();
      },
      error: (e) => errors.push(e),
      complete: () => {},
    },
  );
  client.on('connected', () => (acknowledged = true));
  return {
    items,
    errors,
    get acknowledged() {
      return acknowledged;
    },
    dispose,
    next(n: number, timeoutMs = 15_000): Promise<T> {
      if (items.length >= n) return Promise.resolve(items[n - 1]);
      return new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`waited ${timeoutMs} ms for subscription item ${n}; got ${items.length} (errors: ${JSON.stringify(errors)})`)), timeoutMs);
        waiters.push({ n, resolve: () => (clearTimeout(timer), resolve(items[n - 1])) });
      });
    },
  };
}

/** Polls `probe` until it returns true, or fails after `timeoutMs` with `what`. */
export async function eventually(what: string, probe: () => Promise<boolean> | boolean, timeoutMs = 30_000): Promise<void> {
  const start = Date.now();
  for (;;) {
    if (await probe()) return;
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The value of a Prometheus sample, e.g. metric(text, 'tally_events_accepted_total{source="tx"}'). */
export function metric(text: string, sample: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${sample} `));
  return line ? Number(line.slice(sample.length + 1)) : 0;
}
