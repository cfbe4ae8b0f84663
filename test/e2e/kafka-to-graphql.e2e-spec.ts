// The walking skeleton end to end against a real broker: events produced to two topics of
// three partitions change windowed features that GraphQL reads and pushes, and equal a
// brute-force computation of the same events; malformed events land in <topic>.dlq.
import { createTopics, consumeAll, produce, requireKafka, uniqueName } from '../support/kafka.js';
import { collect, eventually, gqlData, metric, startTally, wsClient, type RunningTally } from '../support/app.js';
import { FeatureModel } from '../support/feature-model.js';
import { mulberry32 } from '../support/random.js';

const HOUR = 3_600_000;

describe('Kafka in, GraphQL out', () => {
  let brokers: string;
  let tally: RunningTally;
  const tx = uniqueName('tx');
  const clicks = uniqueName('clicks');
  const rand = mulberry32(20261125);
  const t0 = Date.now();
  const count = new FeatureModel('count');
  const sum = new FeatureModel('sum');
  const clickCount = new FeatureModel('count');
  const cards = Array.from({ length: 20 }, (_, i) => `card-${i}`);
  const users = Array.from({ length: 10 }, (_, i) => `user-${i}`);

  beforeAll(async () => {
    brokers = requireKafka();
    await createTopics(brokers, [
      { topic: tx, numPartitions: 3 },
      { topic: clicks, numPartitions: 3 },
    ]);
    tally = await startTally(
      `
sources:
  - { name: transactions, topic: ${tx}, timestamp: ts, lateness: 3h }
  - { name: clicks, topic: ${clicks} }
features:
  - { name: card_txn_count, source: transactions, entity: card_id, aggregation: count, windows: [5m, 1h, 24h] }
  - { name: card_amount_sum, source: transactions, entity: card_id, aggregation: sum, field: amount, windows: [1h, 24h] }
  - { name: user_clicks, source: clicks, entity: user, aggregation: count, windows: [1h] }
`,
      { KAFKA_BROKERS: brokers, KAFKA_GROUP_ID: uniqueName('tally') },
    );
  });

  afterAll(async () => {
    await tally?.close();
  });

  it('applies 1,000 events from two topics and answers as a brute-force computation does', async () => {
    // Event times spread over the last two hours, in order per card (keys pick the partition).
    const txMessages = [];
    const times = Array.from({ length: 700 }, () => t0 - Math.floor(rand() * 2 * HOUR)).sort((a, b) => a - b);
    for (const ts of times) {
      const card = cards[Math.floor(rand() * cards.length)];
      const amount = Math.round(rand() * 50_000) / 100;
      count.add(card, 1, ts);
      sum.add(card, amount, ts);
      txMessages.push({ key: card, value: JSON.stringify({ card_id: card, amount, ts }) });
    }
    const clickMessages = [];
    for (let i = 0; i < 300; i++) {
      const user = users[Math.floor(rand() * users.length)];
      clickMessages.push({ key: user, value: JSON.stringify({ user }) });
    }
    await Promise.all([produce(brokers, tx, txMessages), produce(brokers, clicks, clickMessages)]);
    for (const m of clickMessages) clickCount.add(JSON.parse(m.value).user, 1, Date.now());

    await eventually('1,000 events accepted', async () => {
      const text = await (await fetch(`${tally.url}/metrics`)).text();
      return metric(text, 'tally_events_accepted_total{source="transactions"}') + metric(text, 'tally_events_accepted_total{source="clicks"}') === 1000;
    });

    const names = ['card_txn_count:5m', 'card_txn_count:1h', 'card_txn_count:24h', 'card_amount_sum:1h', 'card_amount_sum:24h'];
    const data = await gqlData<{ onlineFeatures: { entity: string; values: (number | null)[] }[]; feature: { value: number; asOf: string } }>(
      tally.url,
      `query($entities: [String!]!, $features: [String!]!) {
         onlineFeatures(entities: $entities, features: $features) { entity values }
         feature(name: "card_txn_count", entity: "card-0", window: "1h") { value asOf }
       }`,
      { entities: [...cards, 'no-such-card'], features: names },
    );
    // The same instant for the model: onlineFeatures and feature are read within one request.
    const now = Date.parse(data.feature.asOf);
    const windows = { '5m': 300_000, '1h': HOUR, '24h': 24 * HOUR } as Record<string, number>;
    const expected = [...cards, 'no-such-card'].map((card) => ({
      entity: card,
      values: names.map((n) => {
        const [feature, w] = n.split(':');
        const v = (feature === 'card_txn_count' ? count : sum).read(card, windows[w], now);
        return v === null ? null : Math.round(v * 100) / 100;
      }),
    }));
    const rounded = data.onlineFeatures.map((r) => ({ entity: r.entity, values: r.values.map((v) => (v === null ? null : Math.round(v * 100) / 100)) }));
    expect(rounded).toEqual(expected);
    expect(data.feature.value).toBe(count.read('card-0', HOUR, now));

    // Clicks carry no timestamp field: the Kafka timestamp is the event time.
    const clicksData = await gqlData<{ onlineFeatures: { entity: string; values: number[] }[] }>(tally.url, `{ onlineFeatures(entities: ${JSON.stringify(users)}, features: ["user_clicks:1h"]) { entity values } }`);
    expect(clicksData.onlineFeatures.map((r) => r.values[0])).toEqual(users.map((u) => clickCount.read(u, HOUR, Date.now())));
  });

  it('pushes featureUpdated to a graphql-ws client after an event', async () => {
    const client = wsClient(tally.url);
    try {
      const sub = collect<{ featureUpdated: { value: number; entity: string; window: string } }>(
        client,
        'subscription { featureUpdated(name: "card_txn_count", entity: "card-sub", window: "1h") { entity window value } }',
      );
      await eventually('the subscription to be acknowledged', () => sub.acknowledged, 10_000);
      // The server registers the subscription right after the acknowledgement; give it a moment.
      await new Promise((r) => setTimeout(r, 200));
      await produce(brokers, tx, [{ key: 'card-sub', value: JSON.stringify({ card_id: 'card-sub', amount: 5, ts: Date.now() }) }]);
      expect((await sub.next(1)).featureUpdated).toEqual({ entity: 'card-sub', window: '1h', value: 1 });
      await produce(brokers, tx, [{ key: 'card-sub', value: JSON.stringify({ card_id: 'card-sub', amount: 5, ts: Date.now() }) }]);
      expect((await sub.next(2)).featureUpdated.value).toBe(2);
      sub.dispose();
    } finally {
      await client.dispose();
    }
  });

  it('writes malformed events to <topic>.dlq with their reason, and counts the good events of the same batch', async () => {
    const before = await (await fetch(`${tally.url}/metrics`)).text();
    const accepted0 = metric(before, 'tally_events_accepted_total{source="transactions"}');
    const ts = Date.now();
    await produce(brokers, tx, [
      { key: 'card-dlq', value: JSON.stringify({ card_id: 'card-dlq', amount: 1, ts }), partition: 0 },
      { key: 'card-dlq', value: '{"card_id": "card-dlq", "amount": ', partition: 0 },
      { key: 'card-dlq', value: JSON.stringify({ amount: 1, ts }), partition: 0 },
      { key: 'card-dlq', value: JSON.stringify({ card_id: 'card-dlq', amount: 'lots', ts }), partition: 0 },
      { key: 'card-dlq', value: JSON.stringify({ card_id: 'card-dlq', amount: 2, ts }), partition: 0 },
    ]);
    const dlq = await consumeAll(brokers, `${tx}.dlq`, { expected: 3, timeoutMs: 30_000 });
    expect(dlq.map((m) => m.headers['tally-reason'])).toEqual(['invalid-json', 'missing-field', 'wrong-type']);
    expect(dlq[1].headers['tally-error']).toBe('missing entity field "card_id"');
    expect(dlq.every((m) => m.headers['tally-source-topic'] === tx && m.headers['tally-source-partition'] === '0')).toBe(true);
    expect(dlq[0].value).toBe('{"card_id": "card-dlq", "amount": ');
    // Offsets of the refused messages are recorded, and distinct.
    expect(new Set(dlq.map((m) => m.headers['tally-source-offset'])).size).toBe(3);

    await eventually('the good events of the batch to be applied', async () => {
      const text = await (await fetch(`${tally.url}/metrics`)).text();
      return metric(text, 'tally_events_accepted_total{source="transactions"}') === accepted0 + 2;
    });
    const data = await gqlData<{ feature: { value: number } }>(tally.url, '{ feature(name: "card_amount_sum", entity: "card-dlq", window: "1h") { value } }');
    expect(data.feature.value).toBe(3);
    const text = await (await fetch(`${tally.url}/metrics`)).text();
    expect(metric(text, 'tally_events_rejected_total{source="transactions",reason="invalid-json"}')).toBe(1);
    expect(metric(text, `tally_dlq_messages_total{topic="${tx}"}`)).toBe(3);
  });

  it('reports Kafka in /health', async () => {
    const res = await fetch(`${tally.url}/health`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: 'ok', mode: 'kafka', kafka: { connected: true } });
  });
});
