// POST /graphql queries Apollo Server has resolved once are answered by the fast path
// (src/graphql/query-fast-path.ts) or handed back to Apollo: either way the answer must be
// Apollo's. Each request below is sent twice, the first time to a document Apollo has not seen
// (Apollo answers), the second time through the fast path; status, content type and body must
// be the same. Also: its answers are timed and counted like Apollo's, refusals stay Apollo's,
// and an operation it admitted is charged once even when Apollo then answers it.
import { ApolloServer } from '@apollo/server';
import { jest } from '@jest/globals';
import { Health } from '../../src/ops/health.js';
import { metric, startTally, type RunningTally } from '../support/app.js';
import { countResolverCalls, type ResolverCalls } from '../support/resolver-calls.js';

const PIPELINE = `
sources:
  - { name: transactions, timestamp: ts, lateness: 1h }
  - { name: card_updates, timestamp: ts, lateness: 1d }
views:
  - { name: card_profile, source: card_updates, entity: card_id, fields: { credit_limit: float, country: string }, ttl: 30d }
features:
  - { name: card_txn_count, source: transactions, entity: card_id, aggregation: count, windows: [1m, 1h] }
  - { name: card_amount_sum, source: transactions, entity: card_id, aggregation: sum, field: amount, windows: [1h] }
`;
const READER = 'fast-path-reader-key-0001';
const ADMIN = 'fast-path-admin-key-00001';
const SCORE = 'query Score($entities: [String!]!, $features: [String!]!) { onlineFeatures(entities: $entities, features: $features) { entity values freshness } }';
const FEATURES = ['card_txn_count:1m', 'card_txn_count:1h', 'card_amount_sum:1h', 'card_profile:credit_limit', 'card_profile:country'];

interface Answer {
  status: number;
  contentType: string | null;
  retryAfter: string | null;
  body: string;
}

async function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const res = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${READER}`, ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, contentType: res.headers.get('content-type'), retryAfter: res.headers.get('retry-after'), body: await res.text() };
}

let unique = 0;
/** A query text no earlier request has sent (a comment makes it new to Apollo). */
const fresh = (query: string) => `${query}\n# ${++unique}`;

describe('fast path for HTTP queries', () => {
  let tally: RunningTally;
  let calls: ResolverCalls;
  /** HTTP requests Apollo Server has answered. */
  let apollo: { mock: { calls: unknown[] }; mockRestore(): void };

  beforeAll(async () => {
    tally = await startTally(PIPELINE, { TALLY_API_KEYS: `${READER}:reader,${ADMIN}:admin`, TALLY_RATE_LIMIT: '0' });
    calls = countResolverCalls(tally.app);
    apollo = jest.spyOn(ApolloServer.prototype, 'executeHTTPGraphQLRequest');
    const now = Date.now();
    const ingest = (source: string, events: unknown[]) =>
      fetch(`${tally.url}/ingest/${source}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN}` }, body: JSON.stringify(events) });
    await ingest('transactions', [
      { card_id: 'c1', amount: 12.5, ts: now - 1_000 },
      { card_id: 'c1', amount: 7, ts: now - 600_000 },
      { card_id: 'c2', amount: 3, ts: now - 2_000 },
    ]);
    await ingest('card_updates', [{ card_id: 'c1', credit_limit: 5000, country: 'FR', ts: now - 3_600_000 }]);
  });
  afterAll(async () => {
    apollo.mockRestore();
    await tally.close();
  });

  // Answered by the fast path the second time.
  const served: [string, () => { body: unknown; headers?: Record<string, string> }][] = [
    ['onlineFeatures with variables and an operation name', () => ({ body: { query: fresh(SCORE), operationName: 'Score', variables: { entities: ['c1', 'c2', 'nobody'], features: FEATURES } } })],
    ['onlineFeatures with inline arguments', () => ({ body: { query: fresh('{ onlineFeatures(entities: ["c1"], features: ["card_txn_count:1h"]) { values entity } }') } })],
    ['a document of two operations, one named', () => ({ body: { query: fresh(`${SCORE} query Other { feature(name: "card_txn_count", entity: "c1", window: "1h") { value } }`), operationName: 'Other' } })],
    ['another root field, aliased, with __typename', () => ({ body: { query: fresh('{ a: feature(name: "card_amount_sum", entity: "c1", window: "1h") { value name } __typename }'), variables: null, operationName: null } })],
    ['an accept header of */*', () => ({ body: { query: fresh(SCORE), variables: { entities: ['c1'], features: FEATURES } }, headers: { accept: '*/*' } })],
  ];
  // Left to Apollo, or handed back to it.
  const handedOn: [string, () => { body: unknown; headers?: Record<string, string> }][] = [
    ['an unknown feature (an input error from the resolver)', () => ({ body: { query: fresh(SCORE), variables: { entities: ['c1'], features: ['card_txn_count:1x'] } } })],
    ['no features (the bounds checked by the resolver)', () => ({ body: { query: fresh(SCORE), variables: { entities: ['c1'], features: [] } } })],
    ['variables of the wrong type', () => ({ body: { query: fresh(SCORE), variables: { entities: ['c1'], features: 3 } } })],
    ['a missing variable', () => ({ body: { query: fresh(SCORE), variables: { entities: ['c1'] } } })],
    ['an operation name the document lacks', () => ({ body: { query: fresh(SCORE), operationName: 'Nope', variables: { entities: ['c1'], features: FEATURES } } })],
    ['a field the key may not read', () => ({ body: { query: fresh('{ digest { at } }') } })],
    ['a content type a form may send (CSRF)', () => ({ body: JSON.stringify({ query: fresh(SCORE), variables: { entities: ['c1'], features: FEATURES } }), headers: { 'content-type': 'text/plain' } })],
    ['an accept header asking for graphql-response+json', () => ({ body: { query: fresh(SCORE), variables: { entities: ['c1'], features: FEATURES } }, headers: { accept: 'application/graphql-response+json' } })],
    ['an accept header Apollo cannot satisfy', () => ({ body: { query: fresh(SCORE), variables: { entities: ['c1'], features: FEATURES } }, headers: { accept: 'text/html' } })],
    ['a persisted-query extension', () => ({ body: { query: fresh(SCORE), variables: { entities: ['c1'], features: FEATURES }, extensions: { persistedQuery: { version: 1, sha256Hash: 'x' } } } })],
    ['variables sent as a string', () => ({ body: { query: fresh(SCORE), variables: '{"entities":["c1"],"features":["card_txn_count:1h"]}' } })],
  ];

  it.each(served)('answers as Apollo does: %s', async (_name, make) => {
    const { body, headers } = make();
    const first = await post(tally.url, body, headers);
    const before = apollo.mock.calls.length;
    const second = await post(tally.url, body, headers);
    expect(second).toEqual(first);
    expect(apollo.mock.calls.length).toBe(before);
  });

  it.each(handedOn)('leaves to Apollo: %s', async (_name, make) => {
    const { body, headers } = make();
    const first = await post(tally.url, body, headers);
    const before = apollo.mock.calls.length;
    const second = await post(tally.url, body, headers);
    expect(second).toEqual(first);
    expect(apollo.mock.calls.length).toBe(before + 1);
  });

  it('serves the same JSON as Apollo for onlineFeatures, and runs the resolver once per request', async () => {
    const body = { query: fresh(SCORE), operationName: 'Score', variables: { entities: ['c1', 'nobody'], features: FEATURES } };
    const first = await post(tally.url, body);
    const before = calls.byField.get('Query.onlineFeatures') ?? 0;
    const second = await post(tally.url, body);
    expect(calls.byField.get('Query.onlineFeatures')).toBe(before + 1);
    expect(second).toEqual(first);
    expect(JSON.parse(second.body)).toEqual({
      data: {
        onlineFeatures: [
          { entity: 'c1', values: [1, 2, 19.5, 5000, 'FR'], freshness: [expect.any(String), expect.any(String), expect.any(String), expect.any(String), expect.any(String)] },
          { entity: 'nobody', values: [0, 0, null, null, null], freshness: [null, null, null, null, null] },
        ],
      },
    });
  });

  it('times its answers in the GraphQL latency histogram', async () => {
    const count = async () => metric(await (await fetch(`${tally.url}/metrics`)).text(), 'tally_graphql_request_duration_seconds_count{operation="query"}');
    const body = { query: fresh(SCORE), variables: { entities: ['c1'], features: FEATURES } };
    await post(tally.url, body);
    const before = await count();
    for (let i = 0; i < 5; i++) expect((await post(tally.url, body)).status).toBe(200);
    expect(await count()).toBe(before + 5);
  });

  it('marks answers stale while the state is being restored', async () => {
    const health = tally.app.get(Health);
    const body = { query: fresh(SCORE), variables: { entities: ['c1'], features: FEATURES } };
    const status = health.status;
    health.status = 'restoring';
    try {
      const first = await post(tally.url, body);
      const second = await post(tally.url, body);
      expect(second).toEqual(first);
      expect(JSON.parse(second.body)).toMatchObject({ extensions: { stale: true } });
    } finally {
      health.status = status;
    }
    expect(JSON.parse((await post(tally.url, body)).body).extensions).toBeUndefined();
  });
});

describe('fast path and the rate limit', () => {
  let tally: RunningTally;

  beforeAll(async () => {
    // 10 cost units a second, at most 100 per operation and in the bucket.
    tally = await startTally(PIPELINE, { TALLY_API_KEYS: `${READER}:reader`, TALLY_RATE_LIMIT: '10', TALLY_GRAPHQL_MAX_COST: '100' });
  });
  afterAll(() => tally.close());

  // 10 entities x (onlineFeatures + entity + values + freshness) = 40 cost units.
  const entities = Array.from({ length: 10 }, (_, i) => `e${i}`);

  it('charges an operation it admitted once, also when Apollo answers it (errors), and leaves refusals to Apollo', async () => {
    const failing = { query: SCORE, variables: { entities, features: ['card_txn_count:1x'] } };
    const a = await post(tally.url, failing); // Apollo: 40 taken, 60 left
    const b = await post(tally.url, failing); // fast path: 40 taken, 20 left; Apollo answers the error
    expect(b).toEqual(a);
    expect(JSON.parse(b.body)).toMatchObject({ errors: [{ extensions: { code: 'BAD_USER_INPUT' } }] });
    const limited = await post(tally.url, { query: SCORE, variables: { entities, features: ['card_txn_count:1h'] } });
    expect(limited.status).toBe(429);
    expect(limited.retryAfter).toBe('2');
    expect(JSON.parse(limited.body)).toMatchObject({ errors: [{ extensions: { code: 'RATE_LIMITED', retryAfterSeconds: 2 } }] });
    const text = await (await fetch(`${tally.url}/metrics`)).text();
    expect(metric(text, 'tally_requests_refused_total{transport="http",reason="rate-limited"}')).toBe(1);
  });

  it('refuses an operation too costly for its variables as Apollo does', async () => {
    const many = Array.from({ length: 30 }, (_, i) => `e${i}`); // 120
    const query = fresh(SCORE);
    expect((await post(tally.url, { query, variables: { entities: ['e1'], features: ['card_txn_count:1h'] } })).status).toBe(200);
    const costly = await post(tally.url, { query, variables: { entities: many, features: ['card_txn_count:1h'] } });
    expect(costly.status).toBe(400);
    expect(JSON.parse(costly.body)).toMatchObject({ errors: [{ extensions: { code: 'TOO_COSTLY' } }] });
  });
});
