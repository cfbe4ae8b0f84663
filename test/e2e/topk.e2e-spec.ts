// topk features through the whole app (embedded mode, HTTP ingest, GraphQL out) on a pinned
// clock: `feature { top unlistedAtMost }` and `onlineFeatures` against every ingested event kept
// and aggregated on read, the pipeline query, bad input, and featureUpdated over graphql-ws.
import { tileWidthFor, topkCapacity, type TopItem } from '../../src/features/index.js';
import { collect, eventually, gql, gqlData, startTally, wsClient, type RunningTally } from '../support/app.js';
import { mulberry32 } from '../support/random.js';
import { exactTop, exactWeights, topBoundProblems } from '../support/topk-model.js';

const PIPELINE = `
sources:
  - { name: tx, timestamp: ts, lateness: 3h }
features:
  - { name: merchants, source: tx, entity: card, aggregation: topk, field: merchant, k: 3, windows: [5m, 1h, lifetime] }
  - { name: spend, source: tx, entity: card, aggregation: topk, field: merchant, weight: amount, k: 2, windows: [1h] }
  - { name: n, source: tx, entity: card, aggregation: count, windows: [1h] }
`;
const MIN = 60_000;
const HOUR = 60 * MIN;
const WINDOWS: Record<string, number> = { '5m': 5 * MIN, '1h': HOUR, lifetime: Number.POSITIVE_INFINITY };

interface Tx {
  card: string;
  merchant: string;
  amount: number;
  ts: number;
}
interface Read {
  value: number | null;
  top: TopItem[] | null;
  unlistedAtMost: number | null;
}

describe('topk features over GraphQL', () => {
  let tally: RunningTally;
  const T0 = Date.UTC(2026, 10, 26, 9);
  let now = T0;

  beforeAll(async () => {
    tally = await startTally(PIPELINE, {}, { clock: () => now });
  });
  afterAll(() => tally?.close());

  const ingest = async (events: Tx[]) => {
    const res = await fetch(`${tally.url}/ingest/tx`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(events) });
    const body = (await res.json()) as { accepted: number; rejected: number; errors: unknown[] };
    expect(body).toMatchObject({ accepted: events.length, rejected: 0 });
  };

  it('answers the heaviest items of every window as brute force does: exact under the capacity, within the stated bounds over it', async () => {
    // Two hours of payments by 12 cards at 80 merchants (popular ones more often); card c-0
    // also pays a new merchant every few seconds for 20 minutes (over 32 distinct per tile).
    const rand = mulberry32(17);
    const events: Tx[] = [];
    for (let t = T0; t < T0 + 2 * HOUR; t += 1 + Math.floor(rand() * 4_000)) {
      const popular = rand() < 0.6;
      events.push({ card: `c-${Math.floor(rand() * 12)}`, merchant: `m-${popular ? Math.floor(rand() * 6) : Math.floor(rand() * 80)}`, amount: Math.round(rand() * 50_000) / 100, ts: t });
    }
    for (let t = T0 + 90 * MIN, i = 0; t < T0 + 110 * MIN; t += 2_000, i++) events.push({ card: 'c-0', merchant: `web-${i}`, amount: 1, ts: t });
    events.sort((a, b) => a.ts - b.ts);
    now = T0 + 2 * HOUR;
    for (let i = 0; i < events.length; i += 500) await ingest(events.slice(i, i + 500));

    const cards = [...Array.from({ length: 12 }, (_, i) => `c-${i}`), 'nobody'];
    let overran = 0;
    for (const read of [now, now + 3 * MIN, now + 50 * MIN]) {
      now = read;
      for (const card of cards) {
        for (const [feature, k, weighted] of [['merchants', 3, false], ['spend', 2, true]] as const) {
          for (const [window, ms] of Object.entries(WINDOWS)) {
            if (feature === 'spend' && window !== '1h') continue;
            const r = await gqlData<{ feature: Read }>(tally.url, 'query($f: String!, $c: String!, $w: String!) { feature(name: $f, entity: $c, window: $w) { value top { item count error } unlistedAtMost } }', { f: feature, c: card, w: window });
            const width = tileWidthFor(ms);
            const mine = events.filter((e) => e.card === card && (!Number.isFinite(ms) || Math.floor(e.ts / width) * width + width > now - ms)).map((e) => ({ item: e.merchant, weight: weighted ? e.amount : 1 }));
            const weights = exactWeights(mine);
            const got = { items: r.feature.top!, unlistedAtMost: r.feature.unlistedAtMost! };
            const where = { card, feature, window, at: now - T0 };
            expect({ ...where, value: r.feature.value }).toEqual({ ...where, value: got.items[0]?.count ?? null });
            if (weights.size <= topkCapacity(k)) {
              const want = exactTop(weights, k);
              const round = (x: number) => Math.round(x * 1e6) / 1e6;
              expect({ ...where, got: got.items.map((x) => [x.item, round(x.count), x.error]), bound: round(got.unlistedAtMost) }).toEqual({ ...where, got: want.items.map((x) => [x.item, round(x.count), 0]), bound: round(want.unlistedAtMost) });
            } else {
              overran++;
              expect({ ...where, problems: topBoundProblems(got, weights, k, mine.reduce((a, e) => a + e.weight, 0), topkCapacity(k)) }).toEqual({ ...where, problems: [] });
            }
          }
        }
      }
      // onlineFeatures serves each topk window as its list, beside numbers.
      const online = await gqlData<{ onlineFeatures: { entity: string; values: unknown[] }[] }>(tally.url, 'query($c: [String!]!) { onlineFeatures(entities: $c, features: ["merchants:1h", "n:1h", "spend:1h"]) { entity values } }', { c: cards });
      for (const row of online.onlineFeatures) {
        const one = async (f: string) => (await gqlData<{ feature: Read }>(tally.url, `{ feature(name: "${f}", entity: "${row.entity}", window: "1h") { value top { item count error } } }`)).feature;
        expect(row.values).toEqual([(await one('merchants')).top, (await one('n')).value, (await one('spend')).top]);
      }
      expect(online.onlineFeatures.at(-1)!.values).toEqual([[], 0, []]);
    }
    expect(overran).toBeGreaterThan(0);
  });

  it('describes topk features in the pipeline query, answers null top for other aggregations, refuses a rank', async () => {
    const p = await gqlData<{ pipeline: { features: { name: string; aggregation: string; field: string | null; k: number | null; weight: string | null }[] } }>(tally.url, '{ pipeline { features { name aggregation field k weight } } }');
    expect(p.pipeline.features).toEqual([
      { name: 'merchants', aggregation: 'topk', field: 'merchant', k: 3, weight: null },
      { name: 'spend', aggregation: 'topk', field: 'merchant', k: 2, weight: 'amount' },
      { name: 'n', aggregation: 'count', field: null, k: null, weight: null },
    ]);
    const count = await gqlData<{ feature: Read }>(tally.url, '{ feature(name: "n", entity: "c-1", window: "1h") { value top { item } unlistedAtMost } }');
    expect(count.feature).toMatchObject({ top: null, unlistedAtMost: null });
    const bad = await gql(tally.url, '{ feature(name: "merchants", entity: "c-1", window: "1h", quantile: 0.5) { value } }');
    expect(bad.errors?.[0]).toMatchObject({ message: 'quantile: 0.5 asked of feature "merchants", a topk; it applies to quantile features only', extensions: { code: 'BAD_USER_INPUT' } });
    const refused = await fetch(`${tally.url}/ingest/tx`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify([{ card: 'c-1', merchant: 'm', amount: -3, ts: now }]) });
    expect(await refused.json()).toMatchObject({ accepted: 0, rejected: 1, errors: [{ index: 0, message: 'invalid-value: weight field "amount" is -3; topk weights must be 0 or more' }] });
  });

  it('pushes the list with featureUpdated after an event', async () => {
    const client = wsClient(tally.url);
    try {
      const sub = collect<{ featureUpdated: Read }>(client, 'subscription { featureUpdated(name: "spend", entity: "live", window: "1h") { value top { item count error } unlistedAtMost } }');
      await eventually('the subscription to be acknowledged', () => sub.acknowledged, 10_000);
      await new Promise((r) => setTimeout(r, 200));
      await ingest([
        { card: 'live', merchant: 'a', amount: 5, ts: now },
        { card: 'live', merchant: 'b', amount: 7.5, ts: now },
        { card: 'live', merchant: 'c', amount: 1, ts: now },
      ]);
      await eventually('the list of three payments', () => sub.items.at(-1)?.featureUpdated.value === 7.5, 10_000);
      expect(sub.items.at(-1)!.featureUpdated).toEqual({
        value: 7.5,
        top: [
          { item: 'b', count: 7.5, error: 0 },
          { item: 'a', count: 5, error: 0 },
        ],
        unlistedAtMost: 1,
      });
      expect(sub.errors).toEqual([]);
      sub.dispose();
    } finally {
      await client.dispose();
    }
  });
});
