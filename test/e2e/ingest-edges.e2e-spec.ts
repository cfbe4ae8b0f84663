// Defects a new user hit at the edges of ingest, each checked against the running app (open
// mode, in memory): sums that would overflow, cross-site simple requests, outside writes to a
// derived source, `__proto__` keys, bodies nested too deep, and errors that are Tally's own.
import { gql, gqlData, metric, startTally, type RunningTally } from '../support/app.js';

const PIPELINE = `
sources:
  - { name: tx, timestamp: ts }
  - { name: positions }
features:
  - { name: amt, source: tx, entity: card, aggregation: sum, field: amount, windows: [1h] }
  - { name: amt_p50, source: tx, entity: card, aggregation: quantile, field: amount, quantile: 0.5, windows: [1h] }
  - { name: fence_events, source: drivers.fences, entity: fence, aggregation: count, windows: [1h] }
views:
  - { name: profile, source: tx, entity: card, fields: { tier: int } }
on_demand:
  - { name: amt_share, inputs: { spent: "amt:1h" }, request: { amount: double }, expression: amount / spent }
geo:
  - name: drivers
    source: positions
    member: driver
    lat: lat
    lon: lon
    fences: [{ name: depot, circle: { lat: 10, lon: 10, radiusMeters: 1000 } }]
`;

type Outcome = { accepted: number; rejected: number; errors: { index: number; message: string }[] };

describe('ingest at the edges', () => {
  let tally: RunningTally;
  beforeAll(async () => {
    tally = await startTally(PIPELINE);
  });
  afterAll(() => tally.close());

  const post = async (path: string, body: string, headers: Record<string, string> = { 'content-type': 'application/json' }) => {
    const res = await fetch(`${tally.url}${path}`, { method: 'POST', headers, body });
    return { status: res.status, json: (await res.json()) as Outcome & { message?: string } };
  };
  const amt = async (card: string) => (await gqlData<{ feature: { value: number | null } }>(tally.url, `{ feature(name: "amt", entity: "${card}", window: "1h") { value } }`)).feature.value;

  it('refuses an amount whose sum could overflow, so the sum stays readable', async () => {
    const now = Date.now();
    const r = await post('/ingest/tx', JSON.stringify([{ card: 'big', amount: 1e308, ts: now }, { card: 'big', amount: 1e308, ts: now }, { card: 'big', amount: 1e200, ts: now }, { card: 'big', amount: 1e200, ts: now }]));
    expect(r.json).toMatchObject({ accepted: 2, rejected: 2, errors: [{ index: 0, message: expect.stringMatching(/^invalid-value: field "amount" is 1e\+308/) }, { index: 1 }] });
    const read = await gql<{ feature: { value: number } }>(tally.url, '{ feature(name: "amt", entity: "big", window: "1h") { value } }');
    expect(read.errors).toBeUndefined();
    expect(read.data!.feature.value).toBe(2e200);
  });

  it('refuses a cross-site simple request to /ingest as /graphql does, and takes it with a preflight header', async () => {
    const body = JSON.stringify({ card: 'csrf', amount: 5, ts: Date.now() });
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'text/plain; charset=utf-8']) {
      const r = await post('/ingest/tx', body, { 'content-type': type, origin: 'https://evil.example' });
      expect({ type, status: r.status }).toEqual({ type, status: 400 });
      expect(r.json.message).toMatch(/cross-site request forgery/);
    }
    const graphql = await fetch(`${tally.url}/graphql`, { method: 'POST', headers: { 'content-type': 'text/plain', origin: 'https://evil.example' }, body: JSON.stringify({ query: '{ __typename }' }) });
    expect(graphql.status).toBe(400);
    expect(await amt('csrf')).toBeNull();
    const ok = await post('/ingest/tx', body, { 'content-type': 'text/plain', 'apollo-require-preflight': '1' });
    expect(ok.json).toMatchObject({ accepted: 1 });
    const ndjson = await post('/ingest/tx', body, { 'content-type': 'application/x-ndjson', origin: 'https://evil.example' });
    expect(ndjson.json).toMatchObject({ accepted: 1 });
    expect(await amt('csrf')).toBe(10);
    expect(metric(await (await fetch(`${tally.url}/metrics`)).text(), 'tally_requests_refused_total{transport="http",reason="csrf"}')).toBe(3);
  });

  it('refuses outside events for a source Tally makes itself (fence crossings)', async () => {
    const fake = { fence: 'depot', member: 'd1', kind: 'enter', lat: 10, lon: 10, ts: Date.now() };
    const r = await post('/ingest/drivers.fences', JSON.stringify([fake]));
    expect(r.json).toMatchObject({ accepted: 0, rejected: 1, errors: [{ index: 0, message: expect.stringMatching(/^source-internal: /) }] });
    const m = await gql<{ ingest: Outcome }>(tally.url, 'mutation($e: [JSON!]!) { ingest(source: "drivers.fences", events: $e) { accepted rejected errors { message } } }', { e: [fake] });
    expect(m.data!.ingest).toMatchObject({ accepted: 0, rejected: 1, errors: [{ message: expect.stringMatching(/^source-internal: /) }] });
    // Crossings Tally makes itself still count.
    await post('/ingest/positions', JSON.stringify([{ driver: 'd1', lat: 10, lon: 10 }]));
    const count = await gqlData<{ feature: { value: number } }>(tally.url, '{ feature(name: "fence_events", entity: "depot", window: "1h") { value } }');
    expect(count.feature.value).toBe(1);
  });

  it('reads __proto__ as an ordinary key, the same in JSON and NDJSON, with the good events of the body', async () => {
    const now = Date.now();
    const text = `[{"card":"p1","amount":1,"ts":${now}},{"__proto__":{"tier":7},"card":"p2","amount":2,"ts":${now}},{"card":"p3","amount":3,"ts":${now},"nested":{"__proto__":null}}]`;
    const json = await post('/ingest/tx', text);
    expect(json.status).toBe(200);
    expect(json.json).toMatchObject({ accepted: 3, rejected: 0 });
    const ndjson = await post('/ingest/tx', text.slice(1, -1).replace(/\},\{"/g, '}\n{"'), { 'content-type': 'application/x-ndjson' });
    expect(ndjson.json).toMatchObject({ accepted: 3, rejected: 0 });
    expect([await amt('p1'), await amt('p2'), await amt('p3')]).toEqual([2, 4, 6]);
    // The key set no prototype: p2's profile has no tier from it.
    const v = await gqlData<{ featureVector: { values: Record<string, unknown> } | null }>(tally.url, '{ featureVector(view: "profile", entity: "p2") { values } }');
    expect(v.featureVector?.values.tier ?? null).toBeNull();
  });

  it('refuses events nested too deep without parsing them, and takes the rest of the body', async () => {
    const now = Date.now();
    const deep = '{"card":"deep","amount":1,"ts":' + now + ',"x":' + '{"a":'.repeat(500_000) + '1' + '}'.repeat(500_000) + '}';
    const body = `[{"card":"shallow","amount":1,"ts":${now}},${deep},{"card":"shallow","amount":2,"ts":${now},"s":"[[[[{{{{"}]`;
    const r = await post('/ingest/tx', body);
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ accepted: 2, rejected: 1, errors: [{ index: 1, message: expect.stringMatching(/^too-deep: /) }] });
    expect(await amt('shallow')).toBe(3);
    expect(await amt('deep')).toBeNull();
    const one = await post('/ingest/tx', deep);
    expect(one.json).toMatchObject({ accepted: 0, rejected: 1, errors: [{ index: 0, message: expect.stringMatching(/^too-deep: /) }] });
    const line = await post('/ingest/tx', `${deep}\n{"card":"shallow","amount":4,"ts":${now}}`, { 'content-type': 'application/x-ndjson' });
    expect(line.json).toMatchObject({ accepted: 1, rejected: 1, errors: [{ index: 0, message: expect.stringMatching(/^too-deep: /) }] });
    const graphql = await fetch(`${tally.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: `{"query":"{ __typename }","variables":${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}}` });
    expect(graphql.status).toBe(400);
  });

  it('answers quantiles chosen at query time from one quantile feature, several in one call', async () => {
    const now = Date.now();
    await post('/ingest/tx', JSON.stringify(Array.from({ length: 100 }, (_, i) => ({ card: 'q', amount: i + 1, ts: now }))));
    const r = await gqlData<Record<string, { value: number }>>(
      tally.url,
      '{ declared: feature(name: "amt_p50", entity: "q", window: "1h") { value } p99: feature(name: "amt_p50", entity: "q", window: "1h", quantile: 0.99) { value } p10: feature(name: "amt_p50", entity: "q", window: "1h", quantile: 0.1) { value } }',
    );
    expect(r.declared.value).toBeCloseTo(50, -0.3);
    expect(r.p99.value).toBeCloseTo(99, -0.3);
    expect(r.p10.value).toBeCloseTo(10, -0.3);
    const bad = await gql(tally.url, '{ feature(name: "amt", entity: "q", window: "1h", quantile: 0.5) { value } }');
    expect(bad.errors?.[0]).toMatchObject({ message: 'quantile: 0.5 asked of feature "amt", a sum; it applies to quantile features only', extensions: { code: 'BAD_USER_INPUT' } });
  });

  it('computes on-demand features from served values and each entity request context, over HTTP the same on both GraphQL paths', async () => {
    await post('/ingest/tx', JSON.stringify([{ card: 'od', amount: 40, ts: Date.now() }]));
    const query = 'query($e: [String!]!, $c: [JSON]) { onlineFeatures(entities: $e, features: ["amt_share", "amt:1h"], context: $c) { entity values freshness } }';
    const vars = { e: ['od', 'nobody'], c: [{ amount: 10 }, { amount: 10 }] };
    const first = await gql<{ onlineFeatures: { entity: string; values: unknown[]; freshness: (string | null)[] }[] }>(tally.url, query, vars);
    const again = await gql<{ onlineFeatures: { entity: string; values: unknown[]; freshness: (string | null)[] }[] }>(tally.url, query, vars); // the fast path
    expect(again).toEqual(first);
    expect(first.data!.onlineFeatures.map((r) => r.values)).toEqual([[0.25, 40], [null, null]]);
    expect(first.data!.onlineFeatures[0].freshness[0]).toBe(first.data!.onlineFeatures[0].freshness[1]);
    const missing = await gql(tally.url, query, { e: ['od'], c: [{}] });
    expect(missing.errors?.[0]).toMatchObject({ message: 'on-demand feature "amt_share" needs "amount" (double) in the context of entity "od"', extensions: { code: 'BAD_USER_INPUT' } });
  });

  it('answers bad input as BAD_USER_INPUT with its message, and keeps serving', async () => {
    const r = await gql(tally.url, '{ feature(name: "amt", entity: "x", window: "7h") { value } }');
    expect(r.errors?.[0]).toMatchObject({ message: 'feature "amt" has no window "7h" (windows: 1h)', extensions: { code: 'BAD_USER_INPUT' } });
    const geo = await gql(tally.url, '{ geoSearch(index: "nope", lat: 0, lon: 0, radiusMeters: 1) { member } }');
    expect(geo.errors?.[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT' } });
  });
});
