// Embedded mode (no Kafka): ingest over GraphQL and HTTP, then query; health and metrics.
import { readFileSync } from 'node:fs';
import { collect, eventually, gql, gqlData, metric, startTally, wsClient, type RunningTally } from '../support/app.js';

const PIPELINE = `
sources:
  - { name: transactions, timestamp: ts, lateness: 30s }
  - { name: card_updates, timestamp: ts, lateness: 1d }
views:
  - { name: card_profile, source: card_updates, entity: card_id, fields: { credit_limit: float, country: string, risk_tier: int, blocked: boolean, emb: "float[]" }, ttl: 30d }
features:
  - { name: card_txn_count, source: transactions, entity: card_id, aggregation: count, windows: [1m, 1h] }
  - { name: card_amount_sum, source: transactions, entity: card_id, aggregation: sum, field: amount, windows: [1h] }
`;

describe('embedded mode', () => {
  let tally: RunningTally;

  beforeAll(async () => {
    tally = await startTally(PIPELINE);
  });
  afterAll(() => tally.close());

  it('counts what the ingest mutation takes and names what it refuses', async () => {
    const ts = Date.now();
    const data = await gqlData<{ ingest: { accepted: number; rejected: number; errors: { index: number; message: string }[] } }>(
      tally.url,
      'mutation($events: [JSON!]!) { ingest(source: "transactions", events: $events) { accepted rejected errors { index message } } }',
      { events: [{ card_id: 'c1', amount: 10, ts }, { card_id: 'c1', amount: 5, ts }, { amount: 1, ts }, { card_id: 'c1', amount: 1, ts: ts - 3_600_000 }] },
    );
    expect(data.ingest).toEqual({
      accepted: 2,
      rejected: 2,
      errors: [
        { index: 2, message: 'missing-field: missing entity field "card_id"' },
        { index: 3, message: expect.stringMatching(/^late: /) },
      ],
    });
    const q = await gqlData<{ a: { value: number }; b: { value: number }; c: { value: number | null } }>(
      tally.url,
      `{ a: feature(name: "card_txn_count", entity: "c1", window: "1m") { value }
         b: feature(name: "card_amount_sum", entity: "c1", window: "1h") { value }
         c: feature(name: "card_amount_sum", entity: "nobody", window: "1h") { value } }`,
    );
    expect(q).toEqual({ a: { value: 2 }, b: { value: 15 }, c: { value: null } });
  });

  it('takes JSON arrays and NDJSON over HTTP, refusing bad lines by index', async () => {
    const ts = Date.now();
    const json = await fetch(`${tally.url}/ingest/transactions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify([{ card_id: 'h1', amount: 1, ts }]) });
    expect(await json.json()).toEqual({ accepted: 1, rejected: 0, errors: [] });
    const ndjson = [JSON.stringify({ card_id: 'h1', amount: 2, ts }), '{oops', JSON.stringify({ card_id: 'h1', amount: 'x', ts }), JSON.stringify({ card_id: 'h1', amount: 3, ts })].join('\n');
    const res = await fetch(`${tally.url}/ingest/transactions`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body: ndjson });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { accepted: number; rejected: number; errors: { index: number; message: string }[] };
    expect(body.accepted).toBe(2);
    expect(body.rejected).toBe(2);
    expect(body.errors.map((e) => [e.index, e.message.split(':')[0]])).toEqual([
      [1, 'invalid-json'],
      [2, 'wrong-type'],
    ]);
    const q = await gqlData<{ feature: { value: number } }>(tally.url, '{ feature(name: "card_amount_sum", entity: "h1", window: "1h") { value } }');
    expect(q.feature.value).toBe(6);
    const unknown = await fetch(`${tally.url}/ingest/nope`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '[{}]' });
    expect(((await unknown.json()) as { errors: { message: string }[] }).errors[0].message).toBe('unknown-source: unknown source "nope"');
  });

  it('answers onlineFeatures in the order asked, with nulls for unknown entities and freshness', async () => {
    const ts = Date.now() - 1000;
    await gqlData(tally.url, 'mutation($e: [JSON!]!) { ingest(source: "transactions", events: $e) { accepted } }', { e: [{ card_id: 'o1', amount: 7, ts }] });
    const data = await gqlData<{ onlineFeatures: { entity: string; values: unknown[]; freshness: (string | null)[] }[] }>(
      tally.url,
      '{ onlineFeatures(entities: ["o1", "o-none"], features: ["card_amount_sum:1h", "card_txn_count:1m"]) { entity values freshness } }',
    );
    expect(data.onlineFeatures).toEqual([
      { entity: 'o1', values: [7, 1], freshness: [new Date(ts).toISOString(), new Date(ts).toISOString()] },
      { entity: 'o-none', values: [null, 0], freshness: [null, null] },
    ]);
  });

  it('serves feature vectors by event time and mixes view fields into onlineFeatures', async () => {
    const ts = Date.now() - 60_000;
    const ingest = (events: unknown[]) => gqlData<{ ingest: { accepted: number } }>(tally.url, 'mutation($e: [JSON!]!) { ingest(source: "card_updates", events: $e) { accepted } }', { e: events });
    await ingest([{ card_id: 'v1', credit_limit: 500, country: 'FR', ts }]);
    await ingest([{ card_id: 'v1', risk_tier: 2, emb: [0.25, -1], ts: ts + 10 }]);
    await ingest([{ card_id: 'v1', credit_limit: 100, ts: ts - 1000 }]); // older: not applied
    const bad = await gqlData<{ ingest: { accepted: number } }>(tally.url, 'mutation { ingest(source: "card_updates", events: [{ card_id: "v1", risk_tier: "high", ts: 1 }]) { accepted } }');
    expect(bad.ingest.accepted).toBe(0);
    const data = await gqlData<{ featureVector: unknown; none: unknown; onlineFeatures: unknown }>(
      tally.url,
      `{ featureVector(view: "card_profile", entity: "v1") { view entity values updatedAt }
         none: featureVector(view: "card_profile", entity: "v-none") { entity }
         onlineFeatures(entities: ["v1"], features: ["card_profile:credit_limit", "card_txn_count:1h", "card_profile:blocked"]) { values freshness } }`,
    );
    expect(data.featureVector).toEqual({
      view: 'card_profile',
      entity: 'v1',
      values: { credit_limit: 500, country: 'FR', risk_tier: 2, blocked: null, emb: [0.25, -1] },
      updatedAt: new Date(ts + 10).toISOString(),
    });
    expect(data.none).toBeNull();
    expect(data.onlineFeatures).toEqual([{ values: [500, 0, null], freshness: [new Date(ts).toISOString(), null, null] }]);
    const text = await (await fetch(`${tally.url}/metrics`)).text();
    expect(metric(text, 'tally_view_stale_updates_total{view="card_profile"}')).toBe(1);
  });

  it('names unknown features and windows in its errors', async () => {
    const r = await gql(tally.url, '{ onlineFeatures(entities: ["a"], features: ["card_txn_count:1h", "nope:1h", "card_txn_count:2h"]) { entity } }');
    expect(r.errors?.[0].message).toBe('unknown features "nope:1h", "card_txn_count:2h" (write feature:window or view:field, e.g. card_txn_count:1m)');
    expect(r.errors?.[0].extensions?.code).toBe('BAD_USER_INPUT');
    const f = await gql(tally.url, '{ feature(name: "card_txn_count", entity: "a", window: "2h") { value } }');
    expect(f.errors?.[0].message).toBe('feature "card_txn_count" has no window "2h" (windows: 1m, 1h)');
  });

  it('emits featureThreshold once per crossing', async () => {
    const client = wsClient(tally.url);
    try {
      const sub = collect<{ featureThreshold: { entity: string; value: number } }>(client, 'subscription { featureThreshold(name: "card_amount_sum", window: "1h", above: 100) { entity value } }');
      await eventually('the subscription to be acknowledged', () => sub.acknowledged, 10_000);
      await new Promise((r) => setTimeout(r, 200));
      const ts = Date.now();
      const ingest = (events: unknown[]) => gqlData(tally.url, 'mutation($e: [JSON!]!) { ingest(source: "transactions", events: $e) { accepted } }', { e: events });
      await ingest([{ card_id: 'thr', amount: 60, ts }]);
      await ingest([{ card_id: 'thr', amount: 60, ts }]); // 120: crosses
      await ingest([{ card_id: 'thr', amount: 60, ts }]); // 180: still above, no new alert
      await ingest([{ card_id: 'other', amount: 500, ts }]); // another entity crosses
      expect(await sub.next(2)).toEqual({ featureThreshold: { entity: 'other', value: 500 } });
      expect(sub.items[0]).toEqual({ featureThreshold: { entity: 'thr', value: 120 } });
      await new Promise((r) => setTimeout(r, 200));
      expect(sub.items).toHaveLength(2);
      sub.dispose();
    } finally {
      await client.dispose();
    }
  });

  it('answers /health and shows the ingest counters in /metrics', async () => {
    const health = await fetch(`${tally.url}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'ok', mode: 'embedded' });
    const text = await (await fetch(`${tally.url}/metrics`)).text();
    expect(metric(text, 'tally_events_accepted_total{source="transactions"}')).toBeGreaterThanOrEqual(7);
    expect(metric(text, 'tally_events_rejected_total{source="transactions",reason="late"}')).toBe(1);
    expect(text).toContain('tally_graphql_request_duration_seconds_bucket');
    // c1, h1, o1, thr, other: the live entities of the feature.
    expect(metric(text, 'tally_feature_entities{feature="card_amount_sum"}')).toBe(5);
  });

  it('serves the schema committed in schema.gql', async () => {
    const r = await gqlData<{ __schema: { queryType: { fields: { name: string }[] }; subscriptionType: { fields: { name: string }[] } } }>(
      tally.url,
      '{ __schema { queryType { fields { name } } subscriptionType { fields { name } } } }',
    );
    const committed = readFileSync('schema.gql', 'utf8');
    // `  name(` for a field with arguments, `  name:` for one without (pipeline, stats)
    for (const f of [...r.__schema.queryType.fields, ...r.__schema.subscriptionType.fields]) expect(committed).toMatch(new RegExp(`^  ${f.name}[(:]`, 'm'));
  });
});
