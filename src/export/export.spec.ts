import fc from 'fast-check';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { asyncBufferFromFile, parquetReadObjects } from 'hyparquet';
import { IngestLog } from '../durability/ingest-log.js';
import { FeatureModel } from '../../test/support/feature-model.js';
import { cli } from '../../test/support/cli.js';

const SEC = 1_000;
const MIN = 60 * SEC;
const T0 = Date.UTC(2026, 10, 25, 12);

const PIPELINE = `
sources:
  - { name: tx, timestamp: ts, lateness: 1h }
features:
  - { name: n, source: tx, entity: card, aggregation: count, windows: [5m, 1h] }
  - { name: total, source: tx, entity: card, aggregation: sum, field: amount, windows: [5m, 1h] }
  - { name: top, source: tx, entity: card, aggregation: max, field: amount, windows: [5m] }
  - { name: latest, source: tx, entity: card, aggregation: last, field: amount, windows: [1h] }
  - { name: declined, source: tx, entity: card, aggregation: count, windows: [1h], where: 'status == "declined"' }
  - { name: where_spent, source: tx, entity: card, aggregation: topk, field: country, weight: amount, k: 2, windows: [1h] }
views:
  - { name: profile, source: tx, entity: card, fields: { country: string, amount: float } }
on_demand:
  - name: ratio
    inputs: { spent: "total:1h" }
    request: { amount: double }
    expression: "amount / spent"
`;


interface Tx {
  card: string;
  amount: number;
  status: string;
  country: string;
  ts: number;
}

/** Writes the events as an embedded instance's ingest log would hold them (one call each, in arrival order). */
async function dataDirWith(events: readonly Tx[]): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'tally-export-'));
  const log = IngestLog.open(join(dir, 'log'), 'always');
  // Each call arrives after every event time of the test (none is ahead of the clock).
  for (const e of events) log.append('tx', [e], T0 + 2 * 3_600_000);
  await log.close();
  return dir;
}

const txArb = fc.record({
  card: fc.constantFrom('c1', 'c2', 'c3'),
  amount: fc.integer({ min: 1, max: 500 }),
  status: fc.constantFrom('ok', 'ok', 'declined'),
  country: fc.constantFrom('FR', 'US'),
  offset: fc.integer({ min: 0, max: 40 * MIN }),
});

describe('tally export', () => {
  const work = mkdtempSync(join(tmpdir(), 'tally-export-spec-'));
  const pipelineFile = join(work, 'pipeline.yaml');
  writeFileSync(pipelineFile, PIPELINE);

  it('gives each spine row the values of the events at or before its timestamp only, as the brute-force model does', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(txArb, { minLength: 1, maxLength: 60 }), fc.array(fc.record({ card: fc.constantFrom('c1', 'c2', 'c3', 'c9'), offset: fc.integer({ min: -MIN, max: 45 * MIN }) }), { minLength: 1, maxLength: 12 }), async (raw, rows) => {
        // Arrival order is the array order; event times jump around within the lateness.
        const events: Tx[] = raw.map((e) => ({ card: e.card, amount: e.amount, status: e.status, country: e.country, ts: T0 + e.offset }));
        const dataDir = await dataDirWith(events);
        const spine = join(dataDir, 'spine.csv');
        writeFileSync(spine, `entity,timestamp,label\n${rows.map((r, i) => `${r.card},${new Date(T0 + r.offset).toISOString()},${i % 2}`).join('\n')}\n`);
        const out = join(dataDir, 'train.ndjson');
        const names = ['n:5m', 'n:1h', 'total:1h', 'top:5m', 'latest:1h', 'declined:1h', 'profile:country'];
        const r = await cli('export', '--spine', spine, '--features', names.join(','), '--out', out, '--pipeline', pipelineFile, '--data-dir', dataDir);
        expect(r.err).not.toMatch(/tally export: .*(failed|error)/);
        expect(r.code).toBe(0);
        const got = readFileSync(out, 'utf8')
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l) as Record<string, unknown>);
        expect(got).toHaveLength(rows.length);
        rows.forEach((row, i) => {
          const at = T0 + row.offset;
          const before = events.filter((e) => e.card === row.card && e.ts <= at);
          const model = (agg: 'count' | 'sum' | 'max' | 'last', windowMs: number, of = before) => {
            const m = new FeatureModel(agg);
            for (const e of of) m.add(e.card, e.amount, e.ts);
            return m.read(row.card, windowMs, at);
          };
          expect(got[i]).toMatchObject({ entity: row.card, timestamp: new Date(at).toISOString(), label: String(i % 2) });
          expect(got[i]['n:5m']).toBe(model('count', 5 * MIN));
          expect(got[i]['n:1h']).toBe(model('count', 60 * MIN));
          expect(got[i]['total:1h']).toBe(model('sum', 60 * MIN));
          expect(got[i]['top:5m']).toBe(model('max', 5 * MIN));
          expect(got[i]['latest:1h']).toBe(model('last', 60 * MIN));
          expect(got[i]['declined:1h']).toBe(model('count', 60 * MIN, before.filter((e) => e.status === 'declined')));
          // The view: the country of the newest update at or before the row (the later applied among equal times).
          let newest: Tx | undefined;
          for (const e of before) if (newest === undefined || e.ts >= newest.ts) newest = e;
          expect(got[i]['profile:country']).toBe(newest?.country ?? null);
        });
      }),
      { numRuns: 40 },
    );
  });

  it('writes CSV and Parquet with the spine columns, labels as they are, and typed feature columns; on-demand features read the labels', async () => {
    const events: Tx[] = [
      { card: 'c1', amount: 100, status: 'ok', country: 'FR', ts: T0 },
      { card: 'c1', amount: 300, status: 'declined', country: 'US', ts: T0 + 10 * MIN },
      { card: 'c2', amount: 50, status: 'ok', country: 'FR', ts: T0 + 20 * MIN },
    ];
    const dataDir = await dataDirWith(events);
    const spine = join(dataDir, 'labels.csv');
    writeFileSync(spine, ['entity,timestamp,is_fraud,amount,note', `c1,${new Date(T0 + 5 * MIN).toISOString()},0,50,"a, quoted"`, `c1,${T0 + 15 * MIN},1,800,`, `c2,2026-11-25T12:30:00,0,25,x`].join('\n'));
    const names = 'n:1h,total:1h,profile:country,ratio,where_spent:1h';
    const csv = join(dataDir, 'train.csv');
    const first = await cli('export', '--spine', spine, '--features', names, '--out', csv, '--pipeline', pipelineFile, '--data-dir', dataDir);
    expect(first.err.split('\n').filter((l) => l.startsWith('tally export: ') && !l.includes('reading the ingest log'))).toEqual([]);
    expect(first.code).toBe(0);
    expect(readFileSync(csv, 'utf8')).toBe(
      [
        'entity,timestamp,is_fraud,amount,note,n:1h,total:1h,profile:country,ratio,where_spent:1h',
        `c1,2026-11-25T12:05:00.000Z,0,50,"a, quoted",1,100,FR,0.5,"[{""item"":""FR"",""count"":100,""error"":0}]"`,
        `c1,2026-11-25T12:15:00.000Z,1,800,,2,400,US,2,"[{""item"":""US"",""count"":300,""error"":0},{""item"":""FR"",""count"":100,""error"":0}]"`,
        `c2,2026-11-25T12:30:00.000Z,0,25,x,1,50,FR,0.5,"[{""item"":""FR"",""count"":50,""error"":0}]"`,
        '',
      ].join('\n'),
    );
    const pq = join(dataDir, 'train.parquet');
    const r = await cli('export', '--spine', spine, '--features', names, '--out', pq, '--pipeline', pipelineFile, '--data-dir', dataDir);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/wrote {7}.*train\.parquet: 3 rows x 5 features/);
    expect(r.out).toMatch(/history {5}3 events applied, 0 refused; the ingest log from its first record/);
    expect(r.err).toMatch(/rows {4}\[#+\] 100%/);
    // A topk list is a JSON column (its text, as Parquet readers give JSON).
    const rows = await parquetReadObjects({ file: await asyncBufferFromFile(pq) });
    expect(rows).toEqual([
      { entity: 'c1', timestamp: new Date(T0 + 5 * MIN), is_fraud: 0, amount: 50, note: 'a, quoted', 'n:1h': 1, 'total:1h': 100, 'profile:country': 'FR', ratio: 0.5, 'where_spent:1h': JSON.stringify([{ item: 'FR', count: 100, error: 0 }]) },
      { entity: 'c1', timestamp: new Date(T0 + 15 * MIN), is_fraud: 1, amount: 800, note: null, 'n:1h': 2, 'total:1h': 400, 'profile:country': 'US', ratio: 2, 'where_spent:1h': JSON.stringify([{ item: 'US', count: 300, error: 0 }, { item: 'FR', count: 100, error: 0 }]) },
      { entity: 'c2', timestamp: new Date(T0 + 30 * MIN), is_fraud: 0, amount: 25, note: 'x', 'n:1h': 1, 'total:1h': 50, 'profile:country': 'FR', ratio: 0.5, 'where_spent:1h': JSON.stringify([{ item: 'FR', count: 50, error: 0 }]) },
    ]);
  });

  it('names what is wrong: unknown features, spine problems by line, formats, and where the history comes from', async () => {
    const dataDir = await dataDirWith([]);
    const spine = join(dataDir, 'spine.csv');
    writeFileSync(spine, 'entity,timestamp\nc1,yesterday\n,2026-11-25T12:00:00Z\n');
    let r = await cli('export', '--spine', spine, '--features', 'n:1h', '--out', join(dataDir, 'o.csv'), '--pipeline', pipelineFile, '--data-dir', dataDir);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`spine ${spine}: 2 bad rows:\n  ${spine}:2: timestamp "yesterday" is not an ISO-8601 time or epoch milliseconds\n  ${spine}:3: entity is empty`);
    writeFileSync(spine, 'card,when\nc1,2026-11-25T12:00:00Z\n');
    r = await cli('export', '--spine', spine, '--features', 'n:1h', '--out', join(dataDir, 'o.csv'), '--pipeline', pipelineFile, '--data-dir', dataDir);
    expect(r.err).toContain('no "entity" or "timestamp" column (columns: card, when)');
    writeFileSync(spine, 'entity,timestamp\nc1,2026-11-25T12:00:00Z\n');
    r = await cli('export', '--spine', spine, '--features', 'n:1h,n:2h,nope:1m', '--out', join(dataDir, 'o.csv'), '--pipeline', pipelineFile, '--data-dir', dataDir);
    expect(r.err).toContain('unknown features "n:2h", "nope:1m"');
    r = await cli('export', '--spine', spine, '--features', 'n:1h', '--out', join(dataDir, 'o.xlsx'), '--pipeline', pipelineFile, '--data-dir', dataDir);
    expect(r.err).toContain('output "');
    expect(r.err).toContain('the extension ".xlsx" names no format; use .csv, .ndjson or .parquet');
    r = await cli('export', '--spine', spine, '--features', 'n:1h', '--out', join(dataDir, 'o.csv'), '--pipeline', pipelineFile, '--data-dir', dataDir, '--brokers', '127.0.0.1:1');
    expect(r.code).toBe(2);
    expect(r.err).toContain('name one history: --brokers (Kafka) or --data-dir (an embedded instance), not both');
    // --data-dir wins over KAFKA_BROKERS in the environment (the e2e setup sets it for every project).
    const saved = process.env.KAFKA_BROKERS;
    process.env.KAFKA_BROKERS = '127.0.0.1:1';
    try {
      r = await cli('export', '--spine', spine, '--features', 'n:1h', '--out', join(dataDir, 'o.csv'), '--pipeline', pipelineFile, '--data-dir', dataDir);
      expect(r.code).toBe(0);
      expect(r.err).toContain('reading the ingest log');
    } finally {
      if (saved === undefined) delete process.env.KAFKA_BROKERS;
      else process.env.KAFKA_BROKERS = saved;
    }
  });
});
