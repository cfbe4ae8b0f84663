// The fraud example end to end against a real broker: the example's own pipeline file and
// traffic (examples/fraud) are produced to Kafka, the example client scores the cards from
// `onlineFeatures`, and its scores equal the same model applied to features computed by brute
// force from the produced events.
//
// Two aggregations are sketches, so their scores are compared within a bound derived from the
// sketches' guarantees rather than exactly:
// - card_merchants (distinct, HyperLogLog) is exact while a window holds at most 512 distinct
//   values and their 32-bit hashes do not collide; the test checks both, so its bound is 0.
// - card_amount_p95 (quantile, DDSketch) returns a value within a relative error a = 1 % of the
//   true one: est in [x(1-a), x(1+a)], so log1p(est) - log1p(x) lies within [ln(1-a), ln(1+a)]
//   and a term w * log1p(p95) moves z by at most |w| * -ln(1-a). The sigmoid's slope is at
//   most 1/4, so the score moves by at most 1/4 of the summed bounds on z.
// The pipeline's topk feature (card_top_merchants, amount per merchant) is not a model term: its
// lists are compared with the exact ones, equal while a card's hour holds at most the summary's
// capacity of merchants, within the stated error bounds otherwise.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { findRing, RING_FEATURES } from '../../examples/fraud/ring.js';
import { loadModel, modelFeatures, scoreCards, scoreFeatures } from '../../examples/fraud/score.js';
import { ATTACKED_CARDS, BLOCKED_CARD, cardId, generateTraffic, labelRows, labelsCsv, type CardUpdate, type Transaction } from '../../examples/fraud/simulate.js';
import { fitModel, readTrainingCsv } from '../../examples/fraud/train.js';
import { runCli } from '../../src/cli/main.js';
import { hash32, QUANTILE_RELATIVE_ACCURACY, tileWidthFor, topkCapacity, type TopAnswer, type TopItem } from '../../src/features/index.js';
import { parseWindow } from '../../src/pipeline/duration.js';
import type { Aggregation } from '../../src/pipeline/pipeline.js';
import { eventually, gqlData, metric, startTally, type RunningTally } from '../support/app.js';
import { FeatureModel } from '../support/feature-model.js';
import { createTopics, produce, requireKafka, uniqueName } from '../support/kafka.js';
import { exactTop, exactWeights, topBoundProblems } from '../support/topk-model.js';

const MINUTE = 60_000;
const PIPELINE_FILE = fileURLToPath(new URL('../../examples/fraud/pipeline.yaml', import.meta.url));

interface PipelineDoc {
  sources: { name: string; topic?: string }[];
  features: { name: string; aggregation: Aggregation; field?: string; quantile?: number; k?: number; weight?: string; windows: string[] }[];
  views: { name: string; fields: Record<string, unknown> }[];
}

/** The latest value per field by event time, as a view keeps it (an older update is not applied). */
class ViewModel {
  private readonly fields = new Map<string, Map<string, { value: unknown; ts: number }>>();

  upsert(entity: string, values: Record<string, unknown>, ts: number): void {
    let m = this.fields.get(entity);
    if (!m) this.fields.set(entity, (m = new Map()));
    for (const [k, v] of Object.entries(values)) {
      const cur = m.get(k);
      if (!cur || ts >= cur.ts) m.set(k, { value: v, ts });
    }
  }

  read(entity: string, field: string): unknown {
    return this.fields.get(entity)?.get(field)?.value ?? null;
  }
}

describe('fraud example against a real broker', () => {
  const doc = parseYaml(readFileSync(PIPELINE_FILE, 'utf8')) as PipelineDoc;
  const topics = Object.fromEntries(doc.sources.map((s) => [s.name, uniqueName(s.name)]));
  let brokers: string;
  let tally: RunningTally;
  /** Tally's clock: the wall clock until the test pins "now" to compare reads with the model. */
  let pinned: number | undefined;

  beforeAll(async () => {
    brokers = requireKafka();
    await createTopics(brokers, Object.values(topics).map((topic) => ({ topic, numPartitions: 3 })));
    // The example's pipeline as it is, reading this run's topics.
    for (const s of doc.sources) s.topic = topics[s.name];
    tally = await startTally(stringifyYaml(doc), { KAFKA_BROKERS: brokers, KAFKA_GROUP_ID: uniqueName('tally-fraud') }, { clock: () => pinned ?? Date.now() });
  });

  afterAll(async () => {
    await tally?.close();
  });

  it('scores cards from onlineFeatures as the same model does on brute-force features', async () => {
    const t0 = Date.now();
    const { updates, transactions } = generateTraffic(t0, 20261126);
    // Profile changes after the initial load: limits raised, a card blocked, and one update
    // that arrives after a newer one and must not be applied (event time decides).
    const later: CardUpdate[] = [
      { card_id: cardId(1), credit_limit: 20_000, ts: t0 - 30 * MINUTE },
      { card_id: ATTACKED_CARDS[0], blocked: true, ts: t0 - 20 * MINUTE },
      { card_id: cardId(1), credit_limit: 500, ts: t0 - 50 * MINUTE }, // older than the 20,000: stale
      { card_id: cardId(2), risk_tier: 2, ts: t0 - 10 * MINUTE },
    ];
    const allUpdates = [...updates, ...later];

    // Produce: profiles first (in the order written), then transactions oldest first, keyed by card.
    const toMessages = (events: readonly (Transaction | CardUpdate)[]) => events.map((e) => ({ key: e.card_id, value: JSON.stringify(e) }));
    await produce(brokers, topics.card_updates, toMessages(allUpdates));
    await produce(brokers, topics.transactions, toMessages(transactions));
    await eventually(
      `${allUpdates.length + transactions.length} events accepted`,
      async () => {
        const text = await (await fetch(`${tally.url}/metrics`)).text();
        return (
          metric(text, 'tally_events_accepted_total{source="transactions"}') === transactions.length &&
          metric(text, 'tally_events_accepted_total{source="card_updates"}') === allUpdates.length
        );
      },
      60_000,
    );

    // The example client, at a pinned instant so the model can read at the same one.
    const model = loadModel();
    const cards = [...Array.from({ length: 500 }, (_, i) => cardId(i + 1)), 'no-such-card'];
    pinned = Date.now();
    const now = pinned;
    const scored = await scoreCards({ url: tally.url }, cards, model);
    const tops = await gqlData<{ onlineFeatures: { entity: string; values: TopItem[][] }[] }>(tally.url, 'query($cards: [String!]!) { onlineFeatures(entities: $cards, features: ["card_top_merchants:1h"]) { entity values } }', { cards });
    /** `feature` of the topk window at the pinned instant: the list and the bound on unlisted merchants. */
    const topOf = async (card: string): Promise<TopAnswer> => {
      const r = await gqlData<{ feature: { top: TopItem[]; unlistedAtMost: number } }>(tally.url, 'query($card: String!) { feature(name: "card_top_merchants", entity: $card, window: "1h") { top { item count error } unlistedAtMost } }', { card });
      return { items: r.feature.top, unlistedAtMost: r.feature.unlistedAtMost };
    };

    // Brute force: every produced event kept, aggregated on read (test/support/feature-model.ts).
    const byFeature = new Map(doc.features.map((f) => [f.name, f]));
    const models = new Map(doc.features.map((f) => [f.name, new FeatureModel(f.aggregation, f.quantile)]));
    for (const t of transactions) {
      for (const f of doc.features) models.get(f.name)!.add(t.card_id, f.field ? (t[f.field] as number | string) : 1, t.ts);
    }
    const profiles = new ViewModel();
    for (const u of allUpdates) {
      const { card_id, ts, ...fields } = u;
      profiles.upsert(card_id, fields, ts);
    }
    const bruteForce = (card: string): Record<string, unknown> =>
      Object.fromEntries(
        modelFeatures(model).map((name) => {
          const [owner, part] = name.split(':');
          if (byFeature.has(owner)) return [name, models.get(owner)!.read(card, parseWindow(part)!, now)];
          return [name, profiles.read(card, part)];
        }),
      );

    // The sketches' preconditions for the bounds in the header.
    const merchants = [...new Set(transactions.map((t) => t.merchant_id))];
    expect(new Set(merchants.map(hash32)).size).toBe(merchants.length);
    const hour = models.get('card_merchants')!;
    for (const card of cards) expect(new Set(hour.inWindow(card, 3_600_000, now).map((e) => e.value)).size).toBeLessThanOrEqual(512);
    const a = QUANTILE_RELATIVE_ACCURACY;
    const zBound = model.terms.reduce((sum, t) => {
      const agg = byFeature.get(t.feature.split(':')[0])?.aggregation;
      if (agg !== 'quantile') return sum;
      expect(t.transform).toBe('log1p'); // the bound below is for log1p(p95); a raw p95 term needs |w| * a * p95
      expect(t.per).toBeUndefined();
      return sum + Math.abs(t.weight) * -Math.log(1 - a);
    }, 0);
    const tolerance = zBound / 4 + 1e-9;

    expect(scored.map((s) => s.card)).toEqual(cards);
    let flagged = 0;
    for (const s of scored) {
      const expected = bruteForce(s.card);
      // Features: exact but for float summation order and the quantile's relative error.
      for (const [name, want] of Object.entries(expected)) {
        const got = s.features[name];
        const agg = byFeature.get(name.split(':')[0])?.aggregation;
        if (want === null || typeof want !== 'number') expect({ card: s.card, name, value: got }).toEqual({ card: s.card, name, value: want });
        else if (agg === 'quantile') expect(Math.abs((got as number) - want)).toBeLessThanOrEqual(a * want + 1e-9);
        else expect({ card: s.card, name, value: typeof got === 'number' ? Math.round(got * 1e6) / 1e6 : got }).toEqual({ card: s.card, name, value: Math.round(want * 1e6) / 1e6 });
      }
      const want = scoreFeatures(model, expected).score;
      expect({ card: s.card, diff: Math.abs(s.score - want) <= tolerance ? 'within tolerance' : s.score - want }).toEqual({ card: s.card, diff: 'within tolerance' });
      if (s.score >= 0.8) flagged++;
    }

    // The example's story holds: attacked and blocked cards stand out, the rest do not.
    const score = (card: string) => scored.find((s) => s.card === card)!.score;
    for (const card of [...ATTACKED_CARDS, BLOCKED_CARD]) expect(score(card)).toBeGreaterThan(0.8);
    expect(flagged).toBeLessThan(20);
    expect(scored.find((s) => s.card === cardId(1))!.features['card_profile:credit_limit']).toBe(20_000);
    expect(scored.find((s) => s.card === 'no-such-card')!.features).toEqual(bruteForce('no-such-card'));

    // The topk feature: each card's five largest payees of the hour, by summed amount.
    const topSpec = byFeature.get('card_top_merchants')!;
    expect(topSpec).toMatchObject({ aggregation: 'topk', field: 'merchant_id', weight: 'amount' });
    const k = topSpec.k!;
    const width = tileWidthFor(3_600_000);
    const round = (x: number) => Math.round(x * 1e6) / 1e6;
    let overran = 0;
    for (const row of tops.onlineFeatures) {
      // The card's payments whose tile overlaps the hour before the pinned instant (tiling.ts).
      const events = transactions.filter((t) => t.card_id === row.entity && Math.floor(t.ts / width) * width + width > now - 3_600_000).map((t) => ({ item: t.merchant_id, weight: t.amount }));
      const weights = exactWeights(events);
      const got = row.values[0];
      if (weights.size <= topkCapacity(k)) {
        // Exact, but for the order in which amounts were added up.
        const want = exactTop(weights, k).items;
        expect({ card: row.entity, top: got.map((x) => [x.item, round(x.count), x.error]) }).toEqual({ card: row.entity, top: want.map((x) => [x.item, round(x.count), 0]) });
      } else {
        overran++;
        const total = events.reduce((a, e) => a + e.weight, 0);
        const answer = await topOf(row.entity);
        expect(answer.items).toEqual(got);
        expect({ card: row.entity, problems: topBoundProblems(answer, weights, k, total, topkCapacity(k)) }).toEqual({ card: row.entity, problems: [] });
      }
    }
    pinned = undefined;
    expect(tops.onlineFeatures.find((r) => r.entity === 'no-such-card')!.values).toEqual([[]]);
    expect(tops.onlineFeatures.filter((r) => r.values[0].length > 0).length).toBeGreaterThan(100);
    expect(overran).toBeLessThan(cards.length);

    // The ring check: the unblocked cards nearest card-0042's embedding (card-0007 is blocked by
    // now), nearest first by cosine distance as computed here, with their features in the same call.
    const ring = await findRing({ url: tally.url }, ATTACKED_CARDS[1], 3);
    const embedding = (card: string) => (profiles.read(card, 'embedding') as number[]).map(Math.fround);
    const cosine = (a: number[], b: number[]) => 1 - a.reduce((x, v, i) => x + v * b[i], 0) / (Math.hypot(...a) * Math.hypot(...b));
    const wanted = cards
      .filter((c) => c !== 'no-such-card' && c !== ATTACKED_CARDS[1] && profiles.read(c, 'blocked') !== true)
      .map((c) => ({ card: c, distance: cosine(embedding(c), embedding(ATTACKED_CARDS[1])) }))
      .sort((x, y) => x.distance - y.distance)
      .slice(0, 3);
    expect(ring.map((m) => m.card)).toEqual(wanted.map((w) => w.card));
    ring.forEach((m, i) => expect(m.distance).toBeCloseTo(wanted[i].distance, 5));
    expect(ring[0].card).toBe(ATTACKED_CARDS[2]);
    for (const m of ring) expect(m.values[RING_FEATURES.indexOf('card_profile:risk_tier')]).toBe(profiles.read(m.card, 'risk_tier'));
  });

  it('trains the model on a point-in-time training set exported from Kafka, with the request-time feature, and serves what it trained on', async () => {
    // A second day of traffic on new topics, so the history holds this test's events only.
    const t0 = Date.now();
    const { updates, transactions } = generateTraffic(t0, 20261204);
    const trainTopics = Object.fromEntries(doc.sources.map((s) => [s.name, uniqueName(`train-${s.name}`)]));
    await createTopics(brokers, Object.values(trainTopics).map((topic) => ({ topic, numPartitions: 3 })));
    const toMessages = (events: readonly (Transaction | CardUpdate)[]) => events.map((e) => ({ key: e.card_id, value: JSON.stringify(e) }));
    await produce(brokers, trainTopics.card_updates, toMessages(updates));
    await produce(brokers, trainTopics.transactions, toMessages(transactions));
    const dir = mkdtempSync(join(tmpdir(), 'tally-fraud-train-'));
    const trainDoc = parseYaml(readFileSync(PIPELINE_FILE, 'utf8')) as PipelineDoc;
    for (const s of trainDoc.sources) s.topic = trainTopics[s.name];
    writeFileSync(join(dir, 'pipeline.yaml'), stringifyYaml(trainDoc));
    const rows = labelRows(transactions, t0);
    writeFileSync(join(dir, 'labels.csv'), labelsCsv(rows));
    const names = [...modelFeatures(loadModel()), 'amount_over_p95'];

    const io = { out: (t: string) => void (out += t), err: () => undefined, tty: false };
    let out = '';
    const code = await runCli(['export', '--spine', join(dir, 'labels.csv'), '--features', names.join(','), '--out', join(dir, 'train.csv'), '--pipeline', join(dir, 'pipeline.yaml'), '--brokers', brokers], io);
    expect(code).toBe(0);
    expect(out).toContain(`${(transactions.length + updates.length).toLocaleString('en')} events applied, 0 refused`);
    const { names: columns, rows: training } = readTrainingCsv(readFileSync(join(dir, 'train.csv'), 'utf8'));
    expect(columns).toEqual(names);
    expect(training).toHaveLength(rows.length);

    // Point in time: each row's velocity counts the card's payments at or before it, none later.
    rows.forEach((row, i) => {
      if (i % 25 !== 0 && row.is_fraud === 0) return;
      const at = Date.parse(row.timestamp);
      const before = transactions.filter((t) => t.card_id === row.entity && t.ts <= at);
      const m = new FeatureModel('count');
      for (const t of before) m.add(t.card_id, 1, t.ts);
      expect({ i, n: training[i].features['card_txn_count:5m'] }).toEqual({ i, n: m.read(row.entity, 5 * MINUTE, at) });
      // The request-time feature: the row's amount over the card's p95 as of the row.
      const q = training[i].features['card_amount_p95:24h'] as number;
      expect(training[i].features.amount_over_p95).toBeCloseTo(row.amount / q, 9);
    });

    // The fit separates the attack's payments from the ordinary ones.
    const trained = fitModel(columns, training);
    const scores = training.map((r) => ({ label: r.label, s: scoreFeatures(trained, r.features).score }));
    const fraud = scores.filter((x) => x.label === 1);
    const ordinary = scores.filter((x) => x.label === 0);
    expect(fraud.length).toBeGreaterThan(30);
    expect(fraud.filter((x) => x.s >= 0.5).length / fraud.length).toBeGreaterThan(0.9);
    expect(ordinary.filter((x) => x.s >= 0.5).length / ordinary.length).toBeLessThan(0.05);
    // The trained model reads the request-time feature (it needs the payment's amount to score).
    expect(trained.terms.map((t) => t.feature)).toContain('amount_over_p95');
  });
});
