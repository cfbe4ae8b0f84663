// A refused Kafka event reaches <topic>.dlq exactly once even when writing it there fails
// (#14): the DLQ topic first refuses every write (its max.message.bytes is below the size of
// the refused messages), so the batches fail and come again; snapshots are refused meanwhile;
// then the limit is raised and every refusal is written, once, while each good event around
// them was applied once.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { alterTopicConfig, consumeAll, createTopics, produce, requireKafka, topicEnds, uniqueName, type OutgoingMessage } from '../support/kafka.js';
import { eventually, gql, gqlData, metric, startTally, type RunningTally } from '../support/app.js';

const PIPELINE = (topic: string) => `
sources:
  - { name: transactions, topic: ${topic}, timestamp: ts, lateness: 24h }
features:
  - { name: n, source: transactions, entity: card_id, aggregation: count, windows: [lifetime] }
  - { name: total, source: transactions, entity: card_id, aggregation: sum, field: amount, windows: [lifetime] }
`;

describe('refused events when the DLQ write fails', () => {
  let brokers: string;
  let tally: RunningTally;
  let dataDir: string;
  const tx = uniqueName('tx-dlqfail');
  const dlq = `${tx}.dlq`;

  beforeAll(async () => {
    brokers = requireKafka();
    // Every refused message below is over 1 KB: no write to this DLQ can succeed.
    await createTopics(brokers, [
      { topic: tx, numPartitions: 3 },
      { topic: dlq, numPartitions: 2, config: { 'max.message.bytes': '512' } },
    ]);
    dataDir = mkdtempSync(join(tmpdir(), 'tally-dlqfail-'));
    tally = await startTally(PIPELINE(tx), { KAFKA_BROKERS: brokers, KAFKA_GROUP_ID: uniqueName('tally'), TALLY_DATA_DIR: dataDir, TALLY_SNAPSHOT_INTERVAL: '0' });
    await eventually('Tally to be ready', async () => (await fetch(`${tally.url}/health`)).status === 200);
  });

  afterAll(async () => {
    await tally?.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('writes every refusal once after the DLQ takes writes again, and applies every good event once', async () => {
    const cards = Array.from({ length: 12 }, (_, i) => `card-${i}`);
    const model = new Map<string, { n: number; total: number }>(cards.map((c) => [c, { n: 0, total: 0 }]));
    const bad: string[] = [];
    const pad = 'x'.repeat(1200);
    const ts = Date.now();
    const rounds: OutgoingMessage[][] = [];
    for (let r = 0; r < 3; r++) {
      const messages: OutgoingMessage[] = [];
      for (let i = 0; i < 200; i++) {
        const card = cards[(r * 7 + i) % cards.length]!;
        const id = `${r}-${i}`;
        if (i % 9 === 4 || i % 23 === 0) {
          // refused: not JSON, no entity, a wrong type (each one distinct, and too big for the DLQ as it is)
          const kind = bad.length % 3;
          const value = kind === 0 ? `{"card_id": "${card}", "id": "${id}", "pad": "${pad}"` : kind === 1 ? JSON.stringify({ id, amount: 1, ts, pad }) : JSON.stringify({ card_id: card, id, amount: 'lots', ts, pad });
          bad.push(value);
          messages.push({ key: card, value });
        } else {
          const amount = (i % 17) + r;
          model.get(card)!.n++;
          model.get(card)!.total += amount;
          messages.push({ key: card, value: JSON.stringify({ card_id: card, id, amount, ts }) });
        }
      }
      rounds.push(messages);
    }
    const good = rounds.flat().length - bad.length;
    for (const messages of rounds) await produce(brokers, tx, messages);

    const counts = async () => {
      const text = await (await fetch(`${tally.url}/metrics`)).text();
      return {
        failures: metric(text, `tally_dlq_write_failures_total{topic="${tx}"}`),
        written: metric(text, `tally_dlq_messages_total{topic="${tx}"}`),
        accepted: metric(text, 'tally_events_accepted_total{source="transactions"}'),
      };
    };
    await eventually('a failed DLQ write to be counted', async () => (await counts()).failures >= 2, 60_000);
    expect((await counts()).written).toBe(0);
    expect(await topicEnds(brokers, dlq)).toEqual([0, 0]);
    // A snapshot now would hold offsets past refusals the DLQ does not have: refused.
    const snap = await gql(tally.url, 'mutation { snapshot { generation } }');
    expect(snap.errors?.[0]?.message).toMatch(/refused messages of .* are not in .*\.dlq yet/);

    await alterTopicConfig(brokers, dlq, { 'max.message.bytes': '1048588' });
    await eventually(
      'every refusal written to the DLQ and every good event applied',
      async () => {
        const c = await counts();
        return c.written === bad.length && c.accepted === good;
      },
      90_000,
    );

    // Exactly once: the DLQ holds as many records as there were refusals, each refusal among them.
    expect((await topicEnds(brokers, dlq)).reduce((a, b) => a + b, 0)).toBe(bad.length);
    const records = await consumeAll(brokers, dlq, { expected: bad.length, timeoutMs: 30_000 });
    expect(records.map((m) => m.value).sort()).toEqual([...bad].sort());
    expect(new Set(records.map((m) => `${m.headers['tally-source-partition']}/${m.headers['tally-source-offset']}`)).size).toBe(bad.length);
    // The refusals of one source partition are in one DLQ partition, in offset order.
    for (const p of ['0', '1', '2']) {
      const of = records.filter((m) => m.headers['tally-source-partition'] === p);
      expect(new Set(of.map((m) => m.partition)).size).toBeLessThanOrEqual(1);
      const offsets = of.map((m) => Number(m.headers['tally-source-offset']));
      expect(offsets).toEqual([...offsets].sort((a, b) => a - b));
    }

    const data = await gqlData<{ onlineFeatures: { entity: string; values: number[] }[] }>(
      tally.url,
      `{ onlineFeatures(entities: ${JSON.stringify(cards)}, features: ["n:lifetime", "total:lifetime"]) { entity values } }`,
    );
    expect(data.onlineFeatures).toEqual(cards.map((c) => ({ entity: c, values: [model.get(c)!.n, model.get(c)!.total] })));
    // and snapshots are taken again
    expect((await gql(tally.url, 'mutation { snapshot { generation } }')).errors).toBeUndefined();
  });
});
