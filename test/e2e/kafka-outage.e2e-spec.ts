// A dead broker does not go unnoticed (#14). On a broker of its own (the shared one serves
// other suites), with TALLY_KAFKA_STALL_MS=2000: an idle but healthy consumer is not taken for
// a stall; once the broker is stopped, within the bound (plus slack) /health says `degraded`
// with a reason and the time of the last fetch, kafkaConnected is false, /readyz answers 503,
// GraphQL answers carry `extensions.stale` (the Apollo path and the fast path alike) and the
// stall is counted; once the broker is back on the same ports and data, all of it clears by
// itself, and the state equals a model of every event produced: none lost, none twice. A
// snapshot that holds fetching longer than the bound (paused on purpose) is no stall either.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startKafka, type KafkaBroker } from '../../scripts/kafka/broker.js';
import { createTopics, produce, uniqueName, type OutgoingMessage } from '../support/kafka.js';
import { eventually, gqlData, metric, startTally, type RunningTally } from '../support/app.js';

// kafkajs logs every failed reconnection at error level while the broker is down.
process.env.TALLY_LOG_LEVEL = 'fatal';

const STALL_MS = 2_000;
/** Detection is on a timer of a tenth of the bound; the rest is the client noticing the broker is gone. */
const SLACK_MS = 3_000;

interface Report {
  status: string;
  reason?: string;
  kafka: { connected: boolean; lastFetchAt: string | null };
}

async function probe(url: string, path: '/health' | '/readyz' | '/livez'): Promise<{ code: number; body: Report }> {
  const res = await fetch(`${url}${path}`);
  return { code: res.status, body: (await res.json()) as Report };
}

/** The raw answer to a GraphQL query, as sent. */
async function post(url: string, query: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`${url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query }) });
  return { status: res.status, body: await res.text() };
}

describe('a Kafka outage', () => {
  let dir: string;
  let dataDir: string;
  let kafka: KafkaBroker | undefined;
  let brokers: string;
  let tally: RunningTally | undefined;
  const tx = uniqueName('tx-outage');
  const cards = Array.from({ length: 10 }, (_, i) => `card-${i}`);
  const model = new Map<string, { n: number; total: number }>(cards.map((c) => [c, { n: 0, total: 0 }]));
  let produced = 0;

  const metrics = async () => {
    const text = await (await fetch(`${tally!.url}/metrics`)).text();
    return {
      accepted: metric(text, 'tally_events_accepted_total{source="transactions"}'),
      stalls: metric(text, 'tally_kafka_stalls_total'),
      connected: metric(text, 'tally_kafka_connected'),
    };
  };

  const events = (n: number, round: number): OutgoingMessage[] =>
    Array.from({ length: n }, (_, i) => {
      const card = cards[(i * 3 + round) % cards.length]!;
      const amount = (i % 13) + round;
      model.get(card)!.n++;
      model.get(card)!.total += amount;
      produced++;
      return { key: card, value: JSON.stringify({ card_id: card, amount, ts: Date.now() }) };
    });

  const STATE = `{ onlineFeatures(entities: ${JSON.stringify(cards)}, features: ["n:lifetime", "total:lifetime"]) { entity values } }`;
  const expectState = async () => {
    const data = await gqlData<{ onlineFeatures: { entity: string; values: number[] }[] }>(tally!.url, STATE);
    expect(data.onlineFeatures).toEqual(cards.map((c) => ({ entity: c, values: [model.get(c)!.n, model.get(c)!.total] })));
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tally-outage-kafka-'));
    dataDir = mkdtempSync(join(tmpdir(), 'tally-outage-data-'));
    kafka = await startKafka({ dir });
    brokers = kafka.brokers;
    await createTopics(brokers, [{ topic: tx, numPartitions: 3 }]);
    tally = await startTally(
      `
sources:
  - { name: transactions, topic: ${tx}, timestamp: ts, lateness: 24h }
features:
  - { name: n, source: transactions, entity: card_id, aggregation: count, windows: [lifetime] }
  - { name: total, source: transactions, entity: card_id, aggregation: sum, field: amount, windows: [lifetime] }
`,
      {
        KAFKA_BROKERS: brokers,
        KAFKA_GROUP_ID: uniqueName('tally'),
        TALLY_KAFKA_STALL_MS: String(STALL_MS),
        // A short session, so that the group forms again soon after the broker is back.
        KAFKA_SESSION_TIMEOUT_MS: '6000',
        // Snapshots on demand only, each chunk written slowly: one holds fetching for seconds.
        TALLY_DATA_DIR: dataDir,
        TALLY_SNAPSHOT_INTERVAL: '0',
        TALLY_SNAPSHOT_WRITE_DELAY_MS: '150',
      },
    );
    await eventually('Tally to be ready', async () => (await probe(tally!.url, '/readyz')).code === 200, 60_000);
  });

  afterAll(async () => {
    await tally?.close();
    await kafka?.stop();
    for (const d of [dir, dataDir]) if (d) rmSync(d, { recursive: true, force: true });
  });

  it('is ready and fresh while the broker serves, also when no event comes for longer than the bound', async () => {
    await produce(brokers, tx, events(300, 1));
    await eventually('the first events to be applied', async () => (await metrics()).accepted === produced);
    await new Promise((r) => setTimeout(r, STALL_MS + 1_500)); // idle, not stalled
    const health = await probe(tally!.url, '/health');
    expect(health.code).toBe(200);
    expect(health.body).toMatchObject({ status: 'ok', kafka: { connected: true } });
    expect(health.body.reason).toBeUndefined();
    expect(Date.now() - Date.parse(health.body.kafka.lastFetchAt!)).toBeLessThan(STALL_MS);
    expect((await probe(tally!.url, '/readyz')).code).toBe(200);
    expect((await probe(tally!.url, '/livez')).code).toBe(200);
    expect(JSON.parse((await post(tally!.url, STATE)).body).extensions).toBeUndefined();
    expect(await metrics()).toMatchObject({ stalls: 0, connected: 1 });
    await expectState();
  });

  it('does not take a snapshot that holds fetching longer than the bound for a stall', async () => {
    const snap = await gqlData<{ snapshot: { ingestPausedMs: number } }>(tally!.url, 'mutation { snapshot { ingestPausedMs } }');
    expect(snap.snapshot.ingestPausedMs).toBeGreaterThan(STALL_MS + 500);
    await new Promise((r) => setTimeout(r, 500));
    expect((await probe(tally!.url, '/readyz')).body.status).toBe('ok');
    expect(await metrics()).toMatchObject({ stalls: 0, connected: 1 });
  });

  it('says it is degraded within the bound once the broker is gone, and serves the last state, stale', async () => {
    await kafka!.stop();
    const gone = Date.now();
    await eventually('/health to say degraded', async () => (await probe(tally!.url, '/health')).body.status === 'degraded', STALL_MS + SLACK_MS);
    const noticedAfter = Date.now() - gone;
    expect(noticedAfter).toBeLessThanOrEqual(STALL_MS + SLACK_MS);

    const health = await probe(tally!.url, '/health');
    expect(health.code).toBe(200); // still serving: a degraded instance answers
    expect(health.body.kafka.connected).toBe(false);
    expect(health.body.reason).toMatch(/no fetch response from Kafka for \d+ s \(TALLY_KAFKA_STALL_MS=2000\)/);
    const lastFetchAt = health.body.kafka.lastFetchAt!;
    expect(Date.parse(lastFetchAt)).toBeLessThanOrEqual(gone);
    const ready = await probe(tally!.url, '/readyz');
    expect(ready.code).toBe(503);
    expect(ready.body).toMatchObject({ status: 'degraded', kafka: { connected: false, lastFetchAt } });
    expect((await probe(tally!.url, '/livez')).code).toBe(200);
    expect(await metrics()).toMatchObject({ stalls: 1, connected: 0 });

    // The same extensions from Apollo (a new text) and from the fast path (the same text again).
    const query = `{ stats { status kafkaConnected } n: onlineFeatures(entities: ["card-1"], features: ["n:lifetime"]) { values } }`;
    const first = await post(tally!.url, query);
    const second = await post(tally!.url, query);
    expect(second).toEqual(first);
    expect(JSON.parse(first.body)).toEqual({
      data: { stats: { status: 'degraded', kafkaConnected: false }, n: [{ values: [model.get('card-1')!.n] }] },
      extensions: { stale: true, lastFetchAt },
    });
    await expectState();

    // A longer outage is still one stall.
    await new Promise((r) => setTimeout(r, STALL_MS));
    expect(await metrics()).toMatchObject({ stalls: 1, connected: 0 });
    expect((await probe(tally!.url, '/health')).body.status).toBe('degraded');
  });

  it('recovers by itself once the broker is back on the same ports and data: no event lost or applied twice', async () => {
    kafka = await startKafka({ dir, restart: true });
    expect(kafka.brokers).toBe(brokers);
    await produce(brokers, tx, events(300, 2));
    await eventually(
      'ready again, with every event applied',
      async () => (await probe(tally!.url, '/readyz')).code === 200 && (await metrics()).accepted === produced,
      60_000,
    );
    const health = await probe(tally!.url, '/health');
    expect(health.body).toMatchObject({ status: 'ok', kafka: { connected: true } });
    expect(health.body.reason).toBeUndefined();
    const answer = JSON.parse((await post(tally!.url, STATE)).body);
    expect(answer.extensions).toBeUndefined();
    expect(await metrics()).toMatchObject({ stalls: 1, connected: 1, accepted: 600 });
    await expectState();
    const stats = await gqlData<{ stats: { status: string; kafkaConnected: boolean } }>(tally!.url, '{ stats { status kafkaConnected } }');
    expect(stats.stats).toEqual({ status: 'ok', kafkaConnected: true });
  });
});
