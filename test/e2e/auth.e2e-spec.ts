// Who may do what, over HTTP and WebSocket: every role and credential against every kind of
// operation, with a count of root resolver calls proving that a refused request ran nothing.
import { spawn } from 'node:child_process';
import { eventually, metric, startTally, type RunningTally } from '../support/app.js';
import { countResolverCalls, type ResolverCalls } from '../support/resolver-calls.js';
import { RawWs } from '../support/ws-raw.js';

const PIPELINE = `
sources:
  - { name: transactions, timestamp: ts, lateness: 1h }
features:
  - { name: card_txn_count, source: transactions, entity: card_id, aggregation: count, windows: [1h] }
`;
const KEYS = { reader: 'reader-key-7f3a9c2e5b1d', writer: 'writer-key-4c8e1a6f9d2b', admin: 'admin-key-2b5d8f1c4a7e' } as const;
const API_KEYS = Object.entries(KEYS)
  .map(([role, key]) => `${key}:${role}`)
  .join(',');

type Role = keyof typeof KEYS;
type Credential = Role | 'none' | 'malformed' | 'unknown';
const CREDENTIALS: Credential[] = ['none', 'malformed', 'unknown', 'reader', 'writer', 'admin'];

function authorization(c: Credential): Record<string, string> {
  if (c === 'none') return {};
  if (c === 'malformed') return { authorization: `Basic ${KEYS.admin}` };
  if (c === 'unknown') return { authorization: 'Bearer not-a-key-of-this-tally-0000' };
  return { authorization: `Bearer ${KEYS[c]}` };
}

const QUERY = '{ feature(name: "card_txn_count", entity: "m", window: "1h") { value } }';
const MUTATION = 'mutation($e: [JSON!]!) { ingest(source: "transactions", events: $e) { accepted } }';
const SUBSCRIPTION = 'subscription { featureUpdated(name: "card_txn_count", entity: "live", window: "1h") { value } }';
const event = (card: string) => ({ card_id: card, ts: Date.now() });

interface Operation {
  name: string;
  /** The root resolver it runs, or `ingest` for the HTTP route (counted by accepted events). */
  resolver: string;
  /** The role it needs. */
  needs: Role;
}

const HTTP_OPERATIONS: Operation[] = [
  { name: 'GraphQL query', resolver: 'Query.feature', needs: 'reader' },
  { name: 'GraphQL ingest mutation', resolver: 'Mutation.ingest', needs: 'writer' },
  { name: 'POST /ingest/:source', resolver: 'ingest', needs: 'writer' },
];
const WS_OPERATIONS: Operation[] = [
  { name: 'subscription', resolver: 'Subscription.featureUpdated', needs: 'reader' },
  { name: 'query over the socket', resolver: 'Query.feature', needs: 'reader' },
  { name: 'ingest mutation over the socket', resolver: 'Mutation.ingest', needs: 'writer' },
];
const RANK: Record<Role, number> = { reader: 1, writer: 2, admin: 3 };
const may = (c: Credential, op: Operation) => c in KEYS && RANK[c as Role] >= RANK[op.needs];

describe('authentication and roles', () => {
  let tally: RunningTally;
  let calls: ResolverCalls;
  let n = 0;

  beforeAll(async () => {
    tally = await startTally(PIPELINE, { TALLY_API_KEYS: API_KEYS, TALLY_WS_INIT_TIMEOUT: '500ms' });
    calls = countResolverCalls(tally.app);
  });
  afterAll(() => tally.close());

  const accepted = async () => metric(await (await fetch(`${tally.url}/metrics`)).text(), 'tally_events_accepted_total{source="transactions"}');
  const count = async (resolver: string) => (resolver === 'ingest' ? accepted() : (calls.byField.get(resolver) ?? 0));
  /** Starts counting the runs of `resolver`; the returned function gives the runs since. */
  const ran = async (resolver: string): Promise<() => Promise<number>> => {
    const start = await count(resolver);
    return async () => (await count(resolver)) - start;
  };

  async function http(c: Credential, op: Operation): Promise<{ status: number; body: Record<string, unknown> }> {
    const headers = { 'content-type': 'application/json', ...authorization(c) };
    const res =
      op.resolver === 'ingest'
        ? await fetch(`${tally.url}/ingest/transactions`, { method: 'POST', headers, body: JSON.stringify([event(`h${n++}`)]) })
        : await fetch(`${tally.url}/graphql`, { method: 'POST', headers, body: JSON.stringify(op.resolver === 'Query.feature' ? { query: QUERY } : { query: MUTATION, variables: { e: [event(`g${n++}`)] } }) });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  describe.each(CREDENTIALS)('over HTTP, with credential %s', (c) => {
    it.each(HTTP_OPERATIONS.map((op) => [op.name, op] as const))('%s', async (_name, op) => {
      const delta = await ran(op.resolver);
      const { status, body } = await http(c, op);
      if (may(c, op)) {
        expect(status).toBe(200);
        expect(op.resolver === 'ingest' ? body : body.errors).toEqual(op.resolver === 'ingest' ? { accepted: 1, rejected: 0, errors: [] } : undefined);
        expect(await delta()).toBe(1);
      } else {
        const expected = c in KEYS ? 403 : 401;
        expect(status).toBe(expected);
        expect(JSON.stringify(body)).toMatch(expected === 401 ? /API key/ : /needs writer/);
        expect(await delta()).toBe(0);
      }
    });
  });

  it('answers /health and /metrics without a key, and says why a key is refused without echoing it', async () => {
    expect((await fetch(`${tally.url}/health`)).status).toBe(200);
    expect((await fetch(`${tally.url}/metrics`)).status).toBe(200);
    const res = await fetch(`${tally.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer wrong-key-0123456789' }, body: JSON.stringify({ query: QUERY }) });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer realm="tally"');
    const text = await res.text();
    expect(JSON.parse(text)).toEqual({ errors: [{ message: 'unknown API key', extensions: { code: 'UNAUTHENTICATED' } }] });
    expect(text).not.toContain('wrong-key');
    const metrics = await (await fetch(`${tally.url}/metrics`)).text();
    expect(metric(metrics, 'tally_requests_refused_total{transport="http",reason="unauthenticated"}')).toBeGreaterThan(0);
    expect(metric(metrics, 'tally_requests_refused_total{transport="http",reason="forbidden"}')).toBeGreaterThan(0);
  });

  it('refuses an anonymous request before reading its body', async () => {
    const before = calls.total;
    // Not JSON at all: an authenticated request would get 400 from the body parser.
    const res = await fetch(`${tally.url}/ingest/transactions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{{{{' });
    expect(res.status).toBe(401);
    expect(calls.total).toBe(before);
  });

  async function ws(c: Credential): Promise<{ socket: RawWs; init: 'ack' | { code: number } }> {
    const socket = await RawWs.open(tally.url);
    const init = await socket.init(c === 'none' ? undefined : authorization(c));
    return { socket, init };
  }

  describe.each(CREDENTIALS)('over WebSocket, with credential %s', (c) => {
    it.each(WS_OPERATIONS.map((op) => [op.name, op] as const))('%s', async (_name, op) => {
      const delta = await ran(op.resolver);
      const { socket, init } = await ws(c);
      try {
        if (!(c in KEYS)) {
          expect(init).toEqual({ code: 4401, reason: expect.stringMatching(/API key/) });
          expect(await delta()).toBe(0);
          return;
        }
        expect(init).toBe('ack');
        const query = op.resolver === 'Query.feature' ? QUERY : op.resolver === 'Mutation.ingest' ? MUTATION : SUBSCRIPTION;
        socket.subscribe('1', query, op.resolver === 'Mutation.ingest' ? { e: [event(`w${n++}`)] } : undefined);
        if (op.resolver === 'Subscription.featureUpdated') {
          await new Promise((r) => setTimeout(r, 100)); // let the subscription register
          await fetch(`${tally.url}/ingest/transactions`, { method: 'POST', headers: { 'content-type': 'application/json', ...authorization('writer') }, body: JSON.stringify([event('live')]) });
        }
        const result = await socket.result('1');
        if (may(c, op)) {
          expect(result?.type).toBe('next');
          expect(await delta()).toBe(1);
        } else {
          expect(result).toMatchObject({ type: 'error', payload: [{ extensions: { code: 'FORBIDDEN' } }] });
          expect(await delta()).toBe(0);
        }
      } finally {
        socket.close();
      }
    });
  });

  it('closes a socket that sends no connection_init within the timeout with 4408', async () => {
    const socket = await RawWs.open(tally.url);
    expect(await socket.closed).toEqual({ code: 4408, reason: 'Connection initialisation timeout' });
  });

  it('closes a socket that sends a second connection_init with 4429, and one that subscribes before init with 4401', async () => {
    const { socket } = await ws('reader');
    socket.send({ type: 'connection_init', payload: authorization('reader') });
    expect((await socket.closed).code).toBe(4429);
    const early = await RawWs.open(tally.url);
    const before = calls.total;
    early.subscribe('1', QUERY);
    expect((await early.closed).code).toBe(4401);
    expect(calls.total).toBe(before);
  });
});

describe('per-key limits', () => {
  let tally: RunningTally;
  let calls: ResolverCalls;

  beforeAll(async () => {
    tally = await startTally(PIPELINE, {
      TALLY_API_KEYS: API_KEYS,
      TALLY_WS_MAX_CONNECTIONS_PER_KEY: '2',
      TALLY_WS_MAX_SUBSCRIPTIONS: '2',
      // 10 cost units a second, at most 100 per operation and in the bucket.
      TALLY_RATE_LIMIT: '10',
      TALLY_GRAPHQL_MAX_COST: '100',
    });
    calls = countResolverCalls(tally.app);
  });
  afterAll(() => tally.close());

  // 20 entities x (onlineFeatures + entity + values) = 60 cost units.
  const COSTS_60 = `{ onlineFeatures(entities: [${Array.from({ length: 20 }, (_, i) => `"e${i}"`).join(', ')}], features: ["card_txn_count:1h"]) { entity values } }`;

  it('rate-limits each key by cost: 429 with Retry-After on HTTP, RATE_LIMITED on WebSocket, counted', async () => {
    const post = (role: Role) =>
      fetch(`${tally.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${KEYS[role]}` }, body: JSON.stringify({ query: COSTS_60 }) });
    expect((await post('reader')).status).toBe(200);
    const before = calls.total;
    const limited = await post('reader');
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('2');
    expect(await limited.json()).toMatchObject({ errors: [{ message: expect.stringMatching(/^rate limit: this key may spend 10 cost units per second; retry in 2 s/), extensions: { code: 'RATE_LIMITED', retryAfterSeconds: 2 } }] });
    expect(calls.total).toBe(before);
    expect((await post('writer')).status).toBe(200); // another key has its own bucket

    const socket = await RawWs.open(tally.url);
    expect(await socket.init({ authorization: `Bearer ${KEYS.reader}` })).toBe('ack');
    socket.subscribe('1', COSTS_60);
    expect(await socket.result('1')).toMatchObject({ type: 'error', payload: [{ extensions: { code: 'RATE_LIMITED' } }] });
    socket.close();

    // HTTP ingest spends one unit per event from the same bucket.
    const ingest = await fetch(`${tally.url}/ingest/transactions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${KEYS.writer}` },
      body: JSON.stringify(Array.from({ length: 50 }, (_, i) => event(`r${i}`))),
    });
    expect(ingest.status).toBe(429);
    const metrics = await (await fetch(`${tally.url}/metrics`)).text();
    expect(metric(metrics, 'tally_requests_refused_total{transport="http",reason="rate-limited"}')).toBe(2);
    expect(metric(metrics, 'tally_requests_refused_total{transport="ws",reason="rate-limited"}')).toBe(1);
  });

  it('caps connections per key (1013) and live operations per connection', async () => {
    const open = async (role: Role) => {
      const s = await RawWs.open(tally.url);
      return { s, init: await s.init({ authorization: `Bearer ${KEYS[role]}` }) };
    };
    const a = await open('admin');
    const b = await open('admin');
    const c = await open('admin');
    expect([a.init, b.init]).toEqual(['ack', 'ack']);
    expect(c.init).toEqual({ code: 1013, reason: 'this key already has 2 connections; at most 2' });
    const other = await open('writer');
    expect(other.init).toBe('ack');
    b.s.close();
    await b.s.closed;
    await new Promise((r) => setTimeout(r, 100)); // the server sees the close
    const d = await open('admin');
    expect(d.init).toBe('ack');

    const sub = (id: string) => a.s.subscribe(id, `subscription { featureUpdated(name: "card_txn_count", entity: "${id}", window: "1h") { value } }`);
    sub('1');
    sub('2');
    await eventually('two subscriptions to start', () => calls.byField.get('Subscription.featureUpdated') === 2);
    const before = calls.total;
    sub('3');
    expect(await a.s.result('3')).toMatchObject({ type: 'error', payload: [{ message: 'this connection already runs 2 operations; at most 2', extensions: { code: 'TOO_MANY_SUBSCRIPTIONS' } }] });
    expect(calls.total).toBe(before);
    a.s.send({ id: '1', type: 'complete' });
    await new Promise((r) => setTimeout(r, 100));
    sub('4');
    await new Promise((r) => setTimeout(r, 200));
    expect(a.s.messages.find((m) => m.id === '4' && m.type === 'error')).toBeUndefined();
    expect(calls.byField.get('Subscription.featureUpdated')).toBe(3);
    for (const s of [a.s, other.s, d.s]) s.close();
  });
});

describe('keys in logs', () => {
  it('never writes a key to the log, at debug level, whatever the requests', async () => {
    const child = spawn(process.execPath, ['dist/main.js'], {
      env: { ...process.env, PORT: '0', HOST: '127.0.0.1', KAFKA_BROKERS: '', TALLY_DEMO: '0', TALLY_PIPELINE: '', TALLY_LOG_LEVEL: 'debug', TALLY_API_KEYS: API_KEYS },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += String(d)));
    child.stderr.on('data', (d) => (out += String(d)));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`tally did not start: ${out}`)), 30_000);
        child.stdout.on('data', () => {
          const m = /"url":"(http:\/\/[^"]+)\/graphql"/.exec(out);
          if (m) {
            clearTimeout(timer);
            resolve(m[1]);
          }
        });
      });
      const wrong = 'Bearer a-wrong-key-that-must-not-leak';
      for (const auth of [wrong, `Bearer ${KEYS.reader}`, `Bearer ${KEYS.writer}`]) {
        await fetch(`${url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: auth }, body: JSON.stringify({ query: QUERY }) });
        await fetch(`${url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: auth }, body: JSON.stringify({ query: MUTATION, variables: { e: [{ nope: 1 }] } }) });
        await fetch(`${url}/ingest/transactions`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: auth }, body: '[{"card_id": 1}]' });
        const s = await RawWs.open(url);
        await s.init({ authorization: auth });
        s.subscribe('1', 'subscription { featureUpdated(name: "nope", entity: "x", window: "1h") { value } }');
        await s.result('1', 5_000).catch(() => undefined);
        s.close();
      }
      await new Promise((r) => setTimeout(r, 200));
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
    expect(out).toContain('tally is serving');
    for (const secret of [...Object.values(KEYS), 'a-wrong-key-that-must-not-leak']) expect(out).not.toContain(secret);
  }, 60_000);
});
