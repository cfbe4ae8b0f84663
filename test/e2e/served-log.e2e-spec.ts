// The served-feature log: onlineFeatures answers asked to be logged are written, as served,
// with their request id — to a file in embedded mode, to a Kafka topic with Kafka — and a
// request cannot ask for it where there is nowhere to write.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { consumeAll, createTopics, requireKafka, uniqueName } from '../support/kafka.js';
import { eventually, gql, startTally, type RunningTally } from '../support/app.js';

const PIPELINE = (topic = 'tx') => `
sources: [{ name: tx, topic: ${topic}, timestamp: ts }]
features:
  - { name: n, source: tx, entity: card, aggregation: count, windows: [1h] }
  - { name: total, source: tx, entity: card, aggregation: sum, field: amount, windows: [1h] }
`;
const QUERY = 'query($e: [String!]!, $log: Boolean) { onlineFeatures(entities: $e, features: ["n:1h", "total:1h"], log: $log) { entity values freshness requestId } }';
type Row = { entity: string; values: unknown[]; freshness: (string | null)[]; requestId: string | null };

async function ingest(url: string, events: unknown[]): Promise<void> {
  const res = await fetch(`${url}/ingest/tx`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(events) });
  expect(await res.json()).toMatchObject({ rejected: 0 });
}

describe('the served-feature log', () => {
  const dirs: string[] = [];
  const apps: RunningTally[] = [];
  afterAll(async () => {
    for (const a of apps) await a.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('writes each logged answer, as served, to <data dir>/served/served.ndjson in embedded mode', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tally-served-'));
    dirs.push(dir);
    const tally = await startTally(PIPELINE(), { TALLY_DATA_DIR: dir });
    apps.push(tally);
    await ingest(tally.url, [{ card: 'c1', amount: 5, ts: Date.now() }, { card: 'c1', amount: 7, ts: Date.now() }]);
    const answers: Row[][] = [];
    for (const log of [true, true, false, null]) {
      const r = await gql<{ onlineFeatures: Row[] }>(tally.url, QUERY, { e: ['c1', 'nobody'], log });
      expect(r.errors).toBeUndefined();
      answers.push(r.data!.onlineFeatures);
    }
    // Logged answers carry one request id on every row; the others none.
    expect(answers.map((a) => a.map((r) => r.requestId !== null))).toEqual([[true, true], [true, true], [false, false], [false, false]]);
    expect(answers[0][0].requestId).not.toBe(answers[1][0].requestId);
    const file = join(dir, 'served', 'served.ndjson');
    let lines: { requestId: string; entities: string[]; features: string[]; values: unknown[][]; freshness: (string | null)[][] }[] = [];
    await eventually('two logged answers in the file', () => {
      try {
        lines = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      } catch {
        return false;
      }
      return lines.length === 2;
    });
    lines.forEach((rec, i) => {
      expect(rec).toMatchObject({ requestId: answers[i][0].requestId, entities: ['c1', 'nobody'], features: ['n:1h', 'total:1h'] });
      expect(rec.values).toEqual(answers[i].map((r) => r.values));
      expect(rec.freshness).toEqual(answers[i].map((r) => r.freshness));
    });
    expect(lines[0].values[0]).toEqual([2, 12]);
  });

  it('refuses a logged request where there is nowhere to write, naming what is missing', async () => {
    const tally = await startTally(PIPELINE());
    apps.push(tally);
    const r = await gql(tally.url, QUERY, { e: ['c1'], log: true });
    expect(r.errors?.[0]).toMatchObject({ message: 'the served-feature log needs Kafka (KAFKA_BROKERS) or TALLY_DATA_DIR to write to', extensions: { code: 'BAD_USER_INPUT' } });
  });

  it('with TALLY_SERVED_LOG=1 and Kafka, writes every answer to the served topic keyed by request id', async () => {
    const brokers = requireKafka();
    const topic = uniqueName('served-tx');
    const served = uniqueName('tally-served');
    await createTopics(brokers, [{ topic, numPartitions: 1 }, { topic: served, numPartitions: 1 }]);
    const tally = await startTally(PIPELINE(topic), { KAFKA_BROKERS: brokers, KAFKA_GROUP_ID: uniqueName('served'), TALLY_SERVED_LOG: '1', TALLY_SERVED_TOPIC: served });
    apps.push(tally);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await gql<{ onlineFeatures: Row[] }>(tally.url, QUERY, { e: [`k${i}`] });
      expect(r.errors).toBeUndefined();
      ids.push(r.data!.onlineFeatures[0].requestId!);
    }
    const got = await consumeAll(brokers, served, { expected: 3 });
    expect(got.map((m) => m.key)).toEqual(ids);
    expect(got.map((m) => JSON.parse(m.value!).entities)).toEqual([['k0'], ['k1'], ['k2']]);
  });
});
