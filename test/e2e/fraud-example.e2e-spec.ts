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
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { findRing, RING_FEATURES } from '../../examples/fraud/ring.js';
import { loadModel, modelFeatures, scoreCards, scoreFeatures } from '../../examples/fraud/score.js';
import { ATTACKED_CARDS, BLOCKED_CARD, cardId, generateTraffic, type CardUpdate, type Transaction } from '../../examples/fraud/simulate.js';
import { hash32, QUANTILE_RELATIVE_ACCURACY } from '../../src/features/index.js';
import { parseWindow } from '../../src/pipeline/duration.js';
import type { Aggregation } from '../../src/pipeline/pipeline.js';
import { eventually, metric, startTally, type RunningTally } from '../support/app.js';
import { FeatureModel } from '../support/feature-model.js';
import { createTopics, produce, requireKafka, uniqueName } from '../support/kafka.js';

const MINUTE = 60_000;
const PIPELINE_FILE = fileURLToPath(new URL('../../examples/fraud/pipeline.yaml', import.meta.url));

interface PipelineDoc {
  sources: { name: string; topic?: string }[];
  features: { name: string; aggregation: Aggregation; field?: string; quantile?: number; windows: string[] }[];
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
    pinned = undefined;

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
});
