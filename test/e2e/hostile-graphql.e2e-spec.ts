// A corpus of hostile GraphQL requests, sent over HTTP and over WebSocket: every one is
// refused before any root resolver runs (a call counter stays at 0), and Tally keeps serving.
// Then: introspection in production, and a subscriber that stops reading.
import { jest } from '@jest/globals';
import { OnlineFeatures } from '../../src/features/index.js';
import { eventually, gql, metric, startTally, type RunningTally } from '../support/app.js';
import { countResolverCalls, type ResolverCalls } from '../support/resolver-calls.js';
import { RawWs } from '../support/ws-raw.js';

const PIPELINE = `
sources:
  - { name: transactions, timestamp: ts, lateness: 1h }
  - { name: game_scores }
features:
  - { name: card_txn_count, source: transactions, entity: card_id, aggregation: count, windows: [1h] }
leaderboards:
  - { name: top, source: game_scores, member: player_id, score: points, mode: incr, period: all }
`;
const ADMIN = 'admin-key-0f1e2d3c4b5a';
const AUTH = { authorization: `Bearer ${ADMIN}` };
const ids = (n: number) => Array.from({ length: n }, (_, i) => `e${i}`);
const feature = 'feature(name: "card_txn_count", entity: "e", window: "1h") { value }';

interface Hostile {
  name: string;
  query: string;
  variables?: Record<string, unknown>;
  /** The error code expected (both transports). */
  code: string;
}

function fragmentBomb(levels: number): string {
  let q = '{ ...F0 }';
  for (let i = 0; i < levels; i++) q += ` fragment F${i} on Query { a${i}: __typename ...F${i + 1} ...F${i + 1} }`;
  return `${q} fragment F${levels} on Query { __typename }`;
}

// Each document is refused by the limit it names; an admin key sends them, so no refusal is
// about the role.
const CORPUS: Hostile[] = [
  { name: 'too deep (introspection, 9 levels)', query: '{ __schema { types { fields { type { ofType { ofType { ofType { ofType { name } } } } } } } } }', code: 'TOO_DEEP' },
  {
    name: 'too deep through fragments',
    query: '{ __schema { ...A } } fragment A on __Schema { types { ...B } } fragment B on __Type { fields { type { ...C } } } fragment C on __Type { ofType { ofType { ofType { ofType { name } } } } }',
    code: 'TOO_DEEP',
  },
  { name: 'too many aliases (51)', query: `{ ${Array.from({ length: 51 }, (_, i) => `a${i}: ${feature}`).join(' ')} }`, code: 'TOO_MANY_ALIASES' },
  { name: 'one field repeated 300 times (quadratic validation)', query: `{ ${`${feature} `.repeat(300)} }`, code: 'REPEATED_FIELD' },
  { name: 'fragment bomb (2^30 expansions)', query: fragmentBomb(30), code: 'TOO_MANY_ALIASES' },
  {
    name: 'too costly: 20 aliases x 1000 entities',
    query: `query($e: [String!]!) { ${Array.from({ length: 20 }, (_, i) => `a${i}: onlineFeatures(entities: $e, features: ["card_txn_count:1h"]) { entity values }`).join(' ')} }`,
    variables: { e: ids(1000) },
    code: 'TOO_COSTLY',
  },
  { name: 'huge limit', query: '{ leaderboard(name: "top", limit: 1000000000) { rank member score } }', code: 'TOO_COSTLY' },
  { name: 'huge list in variables (200,000 entities)', query: 'query($e: [String!]!) { onlineFeatures(entities: $e, features: ["card_txn_count:1h"]) { entity } }', variables: { e: ids(200_000) }, code: 'TOO_COSTLY' },
  { name: 'huge ingest in variables (100,000 events)', query: 'mutation($e: [JSON!]!) { ingest(source: "transactions", events: $e) { accepted } }', variables: { e: Array.from({ length: 100_000 }, () => ({})) }, code: 'TOO_COSTLY' },
  { name: 'huge literal list (tokens)', query: `{ onlineFeatures(entities: [${ids(6_000).map((e) => `"${e}"`).join(',')}], features: ["card_txn_count:1h"]) { entity } }`, code: 'TOO_MANY_TOKENS' },
  { name: 'too many tokens', query: `{ ${Array.from({ length: 2_000 }, (_, i) => `a${i}: __typename`).join(' ')} }`, code: 'TOO_MANY_TOKENS' },
  { name: 'literal nested 40 deep', query: `mutation { ingest(source: "transactions", events: [${'{a: '.repeat(40)}1${'}'.repeat(40)}]) { accepted } }`, code: 'TOO_DEEP' },
  { name: 'fragment cycle', query: '{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }', code: 'GRAPHQL_VALIDATION_FAILED' },
  { name: 'directive flood', query: `{ __typename ${'@include(if: true) '.repeat(300)} }`, code: 'GRAPHQL_VALIDATION_FAILED' },
  { name: 'many operations, one of them too deep', query: `query A { __typename } query B { __schema { types { fields { type { ofType { ofType { ofType { ofType { name } } } } } } } } }`, code: 'TOO_DEEP' },
];

/** The code of a refusal, whatever its transport-specific shape. */
const codeOf = (errors: unknown): string | undefined => (errors as { extensions?: { code?: string } }[] | undefined)?.[0]?.extensions?.code;

describe('hostile GraphQL', () => {
  let tally: RunningTally;
  let calls: ResolverCalls;

  beforeAll(async () => {
    tally = await startTally(PIPELINE, { TALLY_API_KEYS: `${ADMIN}:admin` });
    calls = countResolverCalls(tally.app);
  });
  afterAll(() => tally.close());

  const post = (body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${tally.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', ...AUTH, ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });

  describe('over HTTP', () => {
    it.each(CORPUS.map((h) => [h.name, h] as const))('refuses %s with 400 and runs nothing', async (_name, h) => {
      const res = await post({ query: h.query, variables: h.variables });
      const body = (await res.json()) as { data?: unknown; errors?: unknown[] };
      expect(res.status).toBe(400);
      expect(codeOf(body.errors)).toBe(h.code);
      expect(body.data).toBeUndefined();
      expect(calls.total).toBe(0);
    });

    it('refuses batched arrays, bodies over 10 MB, cross-site requests and mutations over GET', async () => {
      const batch = await post([{ query: '{ __typename }' }, { query: '{ __typename }' }]);
      expect(batch.status).toBe(400);
      expect(await batch.text()).toContain('Operation batching disabled');
      const huge = await post({ query: '{ __typename }', variables: { pad: 'x'.repeat(11 * 1024 * 1024) } });
      expect(huge.status).toBe(413);
      const simple = await fetch(`${tally.url}/graphql`, { method: 'POST', headers: { 'content-type': 'text/plain', ...AUTH }, body: JSON.stringify({ query: '{ __typename }' }) });
      expect(simple.status).toBe(400);
      expect(await simple.text()).toContain('CSRF');
      const get = await fetch(`${tally.url}/graphql?query=${encodeURIComponent('{ __typename }')}`, { headers: AUTH });
      expect(get.status).toBe(400);
      const getMutation = await fetch(`${tally.url}/graphql?query=${encodeURIComponent('mutation { ingest(source: "transactions", events: []) { accepted } }')}`, { headers: { ...AUTH, 'apollo-require-preflight': 'true' } });
      expect(getMutation.status).toBe(405);
      expect(calls.total).toBe(0);
    });

    // Within the cost limit, but past what the arguments allow: refused by argument validation,
    // which runs in the resolver's wrapper (so the root count moves) before its body.
    it('enforces the list bounds of the arguments before the resolver body runs', async () => {
      const fetchSpy = jest.spyOn(tally.app.get(OnlineFeatures), 'fetch');
      try {
        const r = await gql(tally.url, 'query($e: [String!]!) { onlineFeatures(entities: $e, features: ["card_txn_count:1h"]) { entity } }', { e: ids(1_001) }, AUTH);
        expect(codeOf(r.errors)).toBe('BAD_REQUEST');
        expect(JSON.stringify(r.errors)).toContain('entities must contain no more than 1000 elements');
        const l = await gql(tally.url, '{ leaderboard(name: "top", limit: 1001) { rank } }', undefined, AUTH);
        expect(JSON.stringify(l.errors)).toContain('limit must not be greater than 1000');
        expect(fetchSpy).not.toHaveBeenCalled();
      } finally {
        fetchSpy.mockRestore();
      }
    });
  });

  describe('over WebSocket', () => {
    it.each(CORPUS.map((h) => [h.name, h] as const))('refuses %s and runs nothing', async (_name, h) => {
      const before = calls.total;
      const socket = await RawWs.open(tally.url);
      try {
        expect(await socket.init(AUTH)).toBe('ack');
        socket.subscribe('1', h.query, h.variables);
        const result = await socket.result('1');
        if (JSON.stringify({ query: h.query, variables: h.variables }).length > 64 * 1024) {
          // Too big for one frame: the socket refuses it before anything parses it.
          expect(result).toBeUndefined();
          expect((await socket.closed).code).toBe(1009);
        } else {
          expect(result?.type).toBe('error');
          // graphql-js's own validation errors carry no code.
          expect(codeOf(result?.payload) ?? 'GRAPHQL_VALIDATION_FAILED').toBe(h.code);
        }
        expect(calls.total).toBe(before);
      } finally {
        socket.close();
      }
    });

    it('closes a connection that sends a frame over 64 KiB (1009) or a malformed message (4400)', async () => {
      const before = calls.total;
      const big = await RawWs.open(tally.url);
      expect(await big.init(AUTH)).toBe('ack');
      big.subscribe('1', `{ __typename } # ${'x'.repeat(65 * 1024)}`);
      expect((await big.closed).code).toBe(1009);
      // Before connection_init too: the limit is the socket's, not the protocol's.
      const early = await RawWs.open(tally.url);
      early.send('x'.repeat(100 * 1024));
      expect((await early.closed).code).toBe(1009);
      const batched = await RawWs.open(tally.url);
      expect(await batched.init(AUTH)).toBe('ack');
      batched.send(JSON.stringify([{ id: '1', type: 'subscribe', payload: { query: '{ __typename }' } }]));
      expect((await batched.closed).code).toBe(4400);
      expect(calls.total).toBe(before);
    });
  });

  it('still serves, and counted every refusal', async () => {
    const before = calls.total;
    const r = await gql<{ feature: { value: number } }>(tally.url, `{ ${feature} }`, undefined, AUTH);
    expect(r.data?.feature.value).toBe(0);
    expect(calls.total).toBe(before + 1);
    const text = await (await fetch(`${tally.url}/metrics`)).text();
    for (const reason of ['too-deep', 'too-many-aliases', 'repeated-field', 'too-costly', 'too-many-tokens']) {
      expect(metric(text, `tally_requests_refused_total{transport="http",reason="${reason}"}`)).toBeGreaterThan(0);
      expect(metric(text, `tally_requests_refused_total{transport="ws",reason="${reason}"}`)).toBeGreaterThan(0);
    }
  });
});

describe('introspection in production', () => {
  let tally: RunningTally;
  let calls: ResolverCalls;

  beforeAll(async () => {
    const env = process.env.NODE_ENV;
    process.env.NODE_ENV = 'production';
    try {
      tally = await startTally(PIPELINE, { TALLY_API_KEYS: `${ADMIN}:admin` });
    } finally {
      process.env.NODE_ENV = env;
    }
    calls = countResolverCalls(tally.app);
  });
  afterAll(() => tally.close());

  it.each(['{ __schema { queryType { name } } }', '{ __type(name: "Query") { fields { name } } }'])('refuses %s over HTTP and WebSocket', async (query) => {
    const res = await fetch(`${tally.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', ...AUTH }, body: JSON.stringify({ query }) });
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('introspection');
    const socket = await RawWs.open(tally.url);
    expect(await socket.init(AUTH)).toBe('ack');
    socket.subscribe('1', query);
    const result = await socket.result('1');
    expect(result?.type).toBe('error');
    expect(JSON.stringify(result?.payload)).toContain('introspection');
    socket.close();
    expect(calls.total).toBe(0);
  });

  it('still answers __typename and queries', async () => {
    const r = await gql<{ __typename: string }>(tally.url, '{ __typename }', undefined, AUTH);
    expect(r.data).toEqual({ __typename: 'Query' });
  });
});

describe('a subscriber that stops reading', () => {
  let tally: RunningTally;

  beforeAll(async () => {
    tally = await startTally(PIPELINE, { TALLY_API_KEYS: `${ADMIN}:admin`, TALLY_WS_SLOW_CONSUMER_TIMEOUT: '3s' });
  });
  afterAll(() => tally.close());

  it('gets its updates coalesced or dropped (counted), then is disconnected, while a reading subscriber keeps up', async () => {
    const slow = await RawWs.open(tally.url);
    const fast = await RawWs.open(tally.url);
    try {
      for (const s of [slow, fast]) {
        expect(await s.init(AUTH)).toBe('ack');
        // One message per entity whose count goes above 0: about 500 bytes each with these ids.
        s.subscribe('1', 'subscription { featureThreshold(name: "card_txn_count", window: "1h", above: 0) { entity value at } }');
      }
      await new Promise((r) => setTimeout(r, 200));
      slow.socket.pause(); // reads nothing more: the kernel's buffers fill (~10 MB on loopback), then Tally's
      const ts = Date.now();
      const BATCHES = 4;
      const PER_BATCH = 10_000;
      const pad = 'x'.repeat(400);
      for (let b = 0; b < BATCHES; b++) {
        const events = Array.from({ length: PER_BATCH }, (_, i) => ({ card_id: `${pad}-${b}-${i}`, ts }));
        const res = await fetch(`${tally.url}/ingest/transactions`, { method: 'POST', headers: { 'content-type': 'application/json', ...AUTH }, body: JSON.stringify(events) });
        expect(((await res.json()) as { accepted: number }).accepted).toBe(PER_BATCH);
      }
      const metrics = async () => (await fetch(`${tally.url}/metrics`)).text();
      await eventually('the slow consumer to be dropped', async () => metric(await metrics(), 'tally_ws_slow_consumers_dropped_total') === 1, 30_000);
      const text = await metrics();
      // 40,000 crossings, at most 10,000 waiting per subscription: the rest were dropped.
      expect(metric(text, 'tally_subscription_messages_dropped_total')).toBeGreaterThan(0);
      expect(metric(text, 'tally_ws_connections')).toBe(1);
      slow.socket.resume();
      expect((await slow.closed).code).toBe(1006); // cut, not closed politely: it was not reading
      // What it holds is what reached it before it stopped reading: far from the 40,000 sent.
      expect(slow.messages.filter((m) => m.type === 'next').length).toBeLessThan(BATCHES * PER_BATCH - 10_000);
      // The reading subscriber got every crossing, and is still connected.
      await eventually('the reading subscriber to get every crossing', () => fast.messages.filter((m) => m.type === 'next').length === BATCHES * PER_BATCH, 30_000);
    } finally {
      slow.close();
      fast.close();
    }
  }, 120_000);
});
