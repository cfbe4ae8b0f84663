// Online/offline consistency, end to end, on a real broker: a synthetic day of card payments
// (event time compressed into seconds, out of order within the lateness, plus events too late
// to count) streams through Kafka while a client asks onlineFeatures for random cards as of
// moments that are final (no event at or before them can still be accepted), with the served
// log on. Then `tally export` (the CLI, from Kafka) gets a spine made of the logged
// (entity, time) pairs: every exported value equals the served one, and as-of reads asked
// after the stream agree with both. The Parquet file opens in pyarrow and DuckDB.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { consumeAll, createTopics, produce, requireKafka, uniqueName } from '../support/kafka.js';
import { eventually, gql, metric, startTally, type RunningTally } from '../support/app.js';
import { mulberry32 } from '../support/random.js';
import { ensurePythonPackages } from '../support/python-packages.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const LATENESS = 10 * MIN;
/** How far an event's time may be before the newest one of its round (out of order, within the lateness). */
const JITTER = 4 * MIN;

const pipeline = (topic: string) => `
sources: [{ name: payments, topic: ${topic}, timestamp: ts, lateness: 10m }]
features:
  - { name: n, source: payments, entity: card, aggregation: count, windows: [5m, 1h, 24h], history: 3d }
  - { name: spent, source: payments, entity: card, aggregation: sum, field: amount, windows: [1h, 24h], history: 3d }
  - { name: low, source: payments, entity: card, aggregation: min, field: amount, windows: [1h], history: 3d }
  - { name: high, source: payments, entity: card, aggregation: max, field: amount, windows: [24h], history: 3d }
  - { name: mean, source: payments, entity: card, aggregation: avg, field: amount, windows: [1h], history: 3d }
  - { name: last_amount, source: payments, entity: card, aggregation: last, field: amount, windows: [24h], history: 3d }
  - { name: merchants, source: payments, entity: card, aggregation: distinct, field: merchant, windows: [24h], history: 3d }
  - { name: p90, source: payments, entity: card, aggregation: quantile, field: amount, quantile: 0.9, windows: [24h], history: 3d }
  - { name: declined, source: payments, entity: card, aggregation: count, windows: [1h], where: 'status == "declined"', history: 3d }
views:
  - { name: card_profile, source: payments, entity: card, fields: { country: string, amount: float }, history: 3d }
`;
const NAMES = ['n:5m', 'n:1h', 'n:24h', 'spent:1h', 'spent:24h', 'low:1h', 'high:24h', 'mean:1h', 'last_amount:24h', 'merchants:24h', 'p90:24h', 'declined:1h', 'card_profile:country', 'card_profile:amount'];

interface Served {
  requestId: string;
  at: string;
  entities: string[];
  features: string[];
  values: unknown[][];
}

describe('online/offline consistency (served log, as-of reads, tally export)', () => {
  const dirs: string[] = [];
  let tally: RunningTally | undefined;
  afterAll(async () => {
    await tally?.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('exports, for every logged (entity, time), the values that were served, and as-of reads agree', async () => {
    const brokers = requireKafka();
    const topic = uniqueName('payments');
    const servedTopic = uniqueName('tally-served');
    await createTopics(brokers, [
      { topic, numPartitions: 3 },
      { topic: servedTopic, numPartitions: 1 },
    ]);
    tally = await startTally(pipeline(topic), { KAFKA_BROKERS: brokers, KAFKA_GROUP_ID: uniqueName('consistency'), TALLY_SERVED_TOPIC: servedTopic });
    const rand = mulberry32(20261204);
    const cards = Array.from({ length: 40 }, (_, i) => `card-${i}`);
    // The synthetic day: yesterday, in 48 rounds of half an hour.
    const day0 = Math.floor((Date.now() - 30 * HOUR) / HOUR) * HOUR;
    const rounds = 48;
    const roundMs = (24 * HOUR) / rounds;
    const newestOf = new Map<string, number>();
    let produced = 0;
    let late = 0;
    const servedAnswers: { entities: string[]; at: number; values: unknown[][] }[] = [];

    for (let r = 0; r < rounds; r++) {
      const start = day0 + r * roundMs;
      const events: { key: string; value: string }[] = [];
      for (let i = 0; i < 60; i++) {
        const card = cards[Math.floor(rand() * cards.length)];
        // In order overall, each event up to JITTER before the round's advancing time (out of order).
        const ts = Math.round(start + (i / 60) * roundMs - rand() * JITTER);
        const amount = Math.round(rand() * 50_000) / 100;
        const event = { card, ts, amount, merchant: `m-${Math.floor(rand() * 30)}`, status: rand() < 0.15 ? 'declined' : 'ok', country: rand() < 0.8 ? 'FR' : 'US' };
        events.push({ key: card, value: JSON.stringify(event) });
        newestOf.set(card, Math.max(newestOf.get(card) ?? ts, ts));
      }
      // Too late to count: older than its card's (so its partition's) newest event by more than the lateness.
      const known = [...newestOf.entries()];
      if (r > 2 && known.length > 0) {
        const [card, newest] = known[Math.floor(rand() * known.length)];
        events.push({ key: card, value: JSON.stringify({ card, ts: newest - LATENESS - 5 * MIN, amount: 999_999, merchant: 'm-late', status: 'ok', country: 'XX' }) });
        late++;
      }
      await produce(brokers, topic, events);
      produced += events.length;
      // Wait until Tally has taken every event so far (accepted or refused).
      await eventually(`${produced} events taken`, async () => {
        const text = await (await fetch(`${tally!.url}/metrics`)).text();
        const taken = metric(text, 'tally_events_accepted_total{source="payments"}') + ['late', 'invalid-timestamp', 'bad-json'].reduce((n, reason) => n + metric(text, `tally_events_rejected_total{source="payments",reason="${reason}"}`), 0);
        return taken >= produced;
      });
      // Final moments: every event still to come is later than the lateness behind this round's start, or refused as late.
      const finalUpTo = start - LATENESS - JITTER;
      if (finalUpTo <= day0) continue;
      for (let q = 0; q < 3; q++) {
        const at = Math.round(day0 + rand() * (finalUpTo - day0));
        const entities = Array.from({ length: 4 }, () => cards[Math.floor(rand() * cards.length)]);
        const res = await gql<{ onlineFeatures: { entity: string; values: unknown[]; requestId: string }[] }>(
          tally.url,
          'query($e: [String!]!, $f: [String!]!, $at: DateTime) { onlineFeatures(entities: $e, features: $f, at: $at, log: true) { entity values requestId } }',
          { e: entities, f: NAMES, at: new Date(at).toISOString() },
        );
        expect(res.errors).toBeUndefined();
        servedAnswers.push({ entities, at, values: res.data!.onlineFeatures.map((row) => row.values) });
      }
    }
    const text = await (await fetch(`${tally.url}/metrics`)).text();
    expect(metric(text, 'tally_events_rejected_total{source="payments",reason="late"}')).toBe(late);

    // The served log, as Kafka holds it.
    const logged = (await consumeAll(brokers, servedTopic, { expected: servedAnswers.length, timeoutMs: 60_000 })).map((m) => JSON.parse(m.value!) as Served);
    expect(logged).toHaveLength(servedAnswers.length);
    const byTime = (a: { at: number | string }, b: { at: number | string }) => new Date(a.at).getTime() - new Date(b.at).getTime();
    logged.forEach((rec) => expect(rec.features).toEqual(NAMES));
    expect(logged.map((rec) => ({ at: new Date(rec.at).getTime(), entities: rec.entities, values: rec.values })).sort(byTime)).toEqual([...servedAnswers].sort(byTime));
    // Served values are not trivial: most rows saw events, the late events never counted.
    const flat = logged.flatMap((rec) => rec.values);
    expect(flat.filter((v) => (v[2] as number) > 0).length).toBeGreaterThan(flat.length / 2);
    expect(flat.every((v) => v[6] === null || (v[6] as number) < 999_999)).toBe(true);

    // The spine: one row per logged (entity, time).
    const dir = mkdtempSync(join(tmpdir(), 'tally-consistency-'));
    dirs.push(dir);
    const spineRows = logged.flatMap((rec) => rec.entities.map((entity, i) => ({ entity, at: rec.at, requestId: rec.requestId, served: rec.values[i] })));
    writeFileSync(join(dir, 'spine.csv'), `entity,timestamp,request_id\n${spineRows.map((s) => `${s.entity},${s.at},${s.requestId}`).join('\n')}\n`);
    writeFileSync(join(dir, 'pipeline.yaml'), pipeline(topic));
    const exportTo = (out: string) =>
      spawnSync(process.execPath, ['bin/tally.js', 'export', '--spine', join(dir, 'spine.csv'), '--features', NAMES.join(','), '--out', join(dir, out), '--pipeline', join(dir, 'pipeline.yaml'), '--brokers', brokers], { encoding: 'utf8', timeout: 120_000 });
    const run = exportTo('train.ndjson');
    expect(run.stderr).toMatch(/history \[#+\] 100%/);
    expect(run.status).toBe(0);
    expect(run.stdout).toContain(`${(produced - late).toLocaleString('en')} events applied, ${late} refused (late ${late})`);
    const exported = readFileSync(join(dir, 'train.ndjson'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(exported).toHaveLength(spineRows.length);
    exported.forEach((row, i) => {
      expect(row.request_id).toBe(spineRows[i].requestId);
      // Exactly what was served, sketches included (the same events in the same order give the same sketch).
      expect(NAMES.map((n) => row[n])).toEqual(spineRows[i].served);
    });

    // As-of reads asked now agree with both.
    for (const s of spineRows.slice(0, 40)) {
      const res = await gql<{ onlineFeatures: { values: unknown[] }[] }>(tally.url, 'query($e: [String!]!, $f: [String!]!, $at: DateTime) { onlineFeatures(entities: $e, features: $f, at: $at) { values } }', { e: [s.entity], f: NAMES, at: s.at });
      expect(res.data!.onlineFeatures[0].values).toEqual(s.served);
    }

    // The Parquet file opens as it is in pyarrow and DuckDB, with the same values.
    expect(exportTo('train.parquet').status).toBe(0);
    const pythonPath = await ensurePythonPackages(['pyarrow', 'duckdb']);
    const script = `
import json, sys, pyarrow.parquet as pq, duckdb
t = pq.read_table(sys.argv[1])
rows = duckdb.sql(f"select * from read_parquet('{sys.argv[1]}')").fetchall()
cols = [c for c in t.column_names]
print(json.dumps({"columns": cols, "types": [str(t.schema.field(c).type) for c in cols], "rows": t.num_rows,
  "arrow": t.to_pylist()[:5], "duck": [list(r) for r in rows[:5]]}, default=str))
`;
    const py = spawnSync('python3', ['-c', script, join(dir, 'train.parquet')], { encoding: 'utf8', env: { ...process.env, PYTHONPATH: pythonPath } });
    expect(py.stderr).toBe('');
    const read = JSON.parse(py.stdout) as { columns: string[]; types: string[]; rows: number; arrow: Record<string, unknown>[]; duck: unknown[][] };
    expect(read.columns).toEqual(['entity', 'timestamp', 'request_id', ...NAMES]);
    expect(read.types.slice(0, 4)).toEqual(['string', 'timestamp[ms, tz=UTC]', 'string', 'double']);
    expect(read.rows).toBe(spineRows.length);
    for (let i = 0; i < 5; i++) {
      const values = spineRows[i].served;
      expect(NAMES.map((n) => read.arrow[i][n])).toEqual(values);
      expect(read.duck[i].slice(3)).toEqual(values);
    }
  }, 240_000);
});
