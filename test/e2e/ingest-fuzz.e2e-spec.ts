// Fuzzing ingest with fast-check, over HTTP and through a real Kafka broker: garbage bytes,
// wrong types, NaN and Infinity, latitude 91, timestamps a year ahead, nesting up to 100,000 deep,
// oversized payloads and unknown sources, interleaved with good events. The process stays
// up, every bad event is refused with its reason (with Kafka: written to the DLQ with that
// reason), and every good event is applied, as a model of the good events says.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { consumeAll, createTopics, produce, requireKafka, uniqueName } from '../support/kafka.js';
import { eventually, gqlData, metric, startTally, type RunningTally } from '../support/app.js';

const DAY = 86_400_000;

/**
 * One generated event, as data (so fast-check can print and shrink it): what kind of event,
 * its ingredients, and what Tally must do with it. `render` turns it into bytes for a run.
 */
interface Case {
  source: 'tx' | 'pos';
  kind: string;
  /** 'ok', or the refusal reason expected. */
  expect: string;
  card?: number;
  driver?: number;
  amount?: number;
  lat?: number;
  lon?: number;
  /** Event time: ms before the run's "now" (negative: ahead of it). */
  ago?: number;
  /** A value put where it does not belong, or raw ingredients. */
  value?: unknown;
  bytes?: Uint8Array;
  depth?: number;
}

const text = (s: string) => Buffer.from(s);
const json = (v: unknown) => text(JSON.stringify(v));

const CASES: fc.Arbitrary<Case> = (() => {
  const card = fc.integer({ min: 0, max: 4 });
  const driver = fc.integer({ min: 0, max: 2 });
  const ago = fc.integer({ min: 0, max: 3_600_000 });
  const amount = fc.integer({ min: -1_000, max: 1_000 });
  const lat = fc.double({ min: -85, max: 85, noNaN: true });
  const lon = fc.double({ min: -180, max: 180, noNaN: true });
  const tx = (kind: string, expect: string, rest: Record<string, fc.Arbitrary<unknown>>) => fc.record({ card, ago, ...rest }).map((r) => ({ source: 'tx' as const, kind, expect, ...r }) as Case);
  const pos = (kind: string, expect: string, rest: Record<string, fc.Arbitrary<unknown>>) => fc.record({ driver, ago, ...rest }).map((r) => ({ source: 'pos' as const, kind, expect, ...r }) as Case);
  return fc.oneof(
    { weight: 6, arbitrary: tx('good', 'ok', { amount }) },
    { weight: 3, arbitrary: pos('good', 'ok', { lat, lon }) },
    { weight: 1, arbitrary: tx('nested-extra', 'ok', { amount, depth: fc.integer({ min: 1, max: 60 }) }) },
    tx('nested-extra', 'too-deep', { amount, depth: fc.integer({ min: 64, max: 100_000 }) }),
    tx('garbage', 'invalid-json', { bytes: fc.uint8Array({ maxLength: 200 }) }),
    tx('amount', 'wrong-type', { value: fc.constantFrom<unknown>('12', true, {}, [1], { n: 1 }) }),
    tx('entity', 'wrong-type', { value: fc.constantFrom<unknown>({}, [], true, [[['deep']]]) }),
    tx('nested-entity', 'wrong-type', { depth: fc.integer({ min: 1, max: 60 }) }),
    tx('nested-entity', 'too-deep', { depth: fc.integer({ min: 64, max: 100_000 }) }),
    tx('no-amount', 'missing-field', {}),
    tx('empty-entity', 'invalid-value', {}),
    tx('nan', 'invalid-json', { value: fc.constantFrom('NaN', 'Infinity', '-Infinity') }),
    tx('overflow', 'wrong-type', { value: fc.constantFrom('1e999', '-1e999') }),
    pos('lat', 'invalid-value', { lat: fc.constantFrom(91, -91, 85.06, 1e308), lon }),
    pos('lon', 'invalid-value', { lat, lon: fc.constantFrom(180.5, -181, 360) }),
    tx('ahead', 'future-timestamp', { ago: fc.integer({ min: -400 * DAY, max: -6 * 60_000 }) }),
    tx('bad-time', 'invalid-timestamp', { value: fc.constantFrom<unknown>('yesterday', -5, '', true, '2026-13-45T99:00:00Z') }),
    tx('not-object', 'not-an-object', { value: fc.constantFrom('[1,2]', '"an event"', '42', 'null', 'true') }),
  );
})();

/** The bytes of `c` for a run: entities are named after `key`; times count back from `now`. */
function render(c: Case, key: string, now: number): Buffer {
  const card = `${key}-card-${c.card}`;
  const ts = now - (c.ago ?? 0);
  switch (c.kind) {
    case 'good':
      return c.source === 'tx' ? json({ card_id: card, amount: c.amount, ts }) : json({ driver_id: `${key}-driver-${c.driver}`, lat: c.lat, lon: c.lon, ts });
    case 'nested-extra': // depth counts the event itself: 1 + depth levels
      return text(`{"card_id":"${card}","amount":${c.amount},"ts":${ts},"extra":${'{"a":'.repeat(c.depth!)}1${'}'.repeat(c.depth!)}}`);
    case 'garbage': // never valid JSON (it opens with "{{"), and no newline, so NDJSON keeps it whole
      return Buffer.concat([text('{{'), Buffer.from(c.bytes!.filter((b) => b !== 10))]);
    case 'amount':
      return json({ card_id: card, amount: c.value, ts });
    case 'entity':
      return json({ card_id: c.value, amount: 1, ts });
    case 'nested-entity':
      return text(`{"card_id":${'['.repeat(c.depth!)}${']'.repeat(c.depth!)},"amount":1,"ts":${ts}}`);
    case 'no-amount':
      return json({ card_id: card, ts });
    case 'empty-entity':
      return json({ card_id: '', amount: 1, ts });
    case 'nan':
    case 'overflow':
      return text(`{"card_id":"${card}","amount":${c.value as string},"ts":${ts}}`);
    case 'lat':
    case 'lon':
      return json({ driver_id: `${key}-driver-${c.driver}`, lat: c.lat, lon: c.lon, ts });
    case 'ahead':
      return json({ card_id: card, amount: 1, ts });
    case 'bad-time':
      return json({ card_id: card, amount: 1, ts: c.value });
    case 'not-object':
      return text(c.value as string);
    default:
      throw new Error(`unknown case kind ${c.kind}`);
  }
}

/** Renders a run: good positions get increasing times, so the latest per driver is the last sent. */
function renderAll(list: Case[], key: string, now: number): Buffer[] {
  let t = list.length;
  return list.map((c) => render(c.source === 'pos' && c.expect === 'ok' ? { ...c, ago: t-- } : c, key, now));
}

/** What the good events of `list` should have done. */
function model(list: Case[], key: string) {
  const cards = new Map<string, { count: number; sum: number }>();
  const drivers = new Map<string, { lat: number; lon: number }>();
  for (const c of list) {
    if (c.expect !== 'ok') continue;
    if (c.source === 'tx') {
      const name = `${key}-card-${c.card}`;
      const m = cards.get(name) ?? { count: 0, sum: 0 };
      m.count++;
      m.sum += c.amount!;
      cards.set(name, m);
    } else drivers.set(`${key}-driver-${c.driver}`, { lat: c.lat!, lon: c.lon! });
  }
  return { cards, drivers };
}

const pipeline = (tx: string, pos: string) => `
sources:
  - { name: tx, topic: ${tx}, timestamp: ts, lateness: 1d }
  - { name: pos, topic: ${pos}, timestamp: ts, lateness: 1d }
features:
  - { name: tx_count, source: tx, entity: card_id, aggregation: count, windows: [lifetime] }
  - { name: tx_sum, source: tx, entity: card_id, aggregation: sum, field: amount, windows: [lifetime] }
geo:
  - { name: drivers, source: pos, member: driver_id, lat: lat, lon: lon }
`;

async function checkState(tally: RunningTally, expected: ReturnType<typeof model>): Promise<void> {
  const cards = [...expected.cards.keys()];
  if (cards.length > 0) {
    const rows = await gqlData<{ onlineFeatures: { entity: string; values: number[] }[] }>(tally.url, 'query($e: [String!]!) { onlineFeatures(entities: $e, features: ["tx_count:lifetime", "tx_sum:lifetime"]) { entity values } }', { e: cards });
    expect(rows.onlineFeatures.map((r) => [r.entity, r.values])).toEqual(cards.map((c) => [c, [expected.cards.get(c)!.count, expected.cards.get(c)!.sum]]));
  }
  for (const [driver, p] of expected.drivers) {
    const hit = await gqlData<{ geoPosition: { lat: number; lon: number } | null }>(tally.url, 'query($m: String!) { geoPosition(index: "drivers", member: $m) { lat lon } }', { m: driver });
    // Positions are stored at geohash precision (well under a metre).
    expect(hit.geoPosition?.lat).toBeCloseTo(p.lat, 5);
    expect(hit.geoPosition?.lon).toBeCloseTo(p.lon, 5);
  }
}

// With a data directory, HTTP ingest is written to the ingest log before it is applied.
describe.each([
  ['in memory', false],
  ['with the ingest log', true],
])('ingest fuzzing over HTTP, %s', (_name, logged) => {
  let tally: RunningTally;
  beforeAll(async () => {
    tally = await startTally(pipeline('tx-unused', 'pos-unused'), logged ? { TALLY_DATA_DIR: mkdtempSync(join(tmpdir(), 'tally-fuzz-')) } : {});
  });
  afterAll(() => tally.close());

  const post = (source: string, body: Buffer, type = 'application/x-ndjson') => fetch(`${tally.url}/ingest/${source}`, { method: 'POST', headers: { 'content-type': type }, body });

  it('refuses every bad event with its reason and applies every good one, in any mix', async () => {
    let run = 0;
    const lines = (raws: Buffer[]) => Buffer.concat(raws.flatMap((r, i) => (i === 0 ? [r] : [text('\n'), r])));
    await fc.assert(
      fc.asyncProperty(fc.array(CASES, { minLength: 1, maxLength: 60 }), async (list) => {
        const key = `h${run++}`; // entities of this run only, so the model starts empty
        const raws = renderAll(list, key, Date.now());
        for (const source of ['tx', 'pos'] as const) {
          const mine = list.map((c, i) => ({ c, raw: raws[i] })).filter(({ c }) => c.source === source);
          if (mine.length === 0) continue;
          const res = await post(source, lines(mine.map((m) => m.raw)));
          expect(res.status).toBe(200);
          const out = (await res.json()) as { accepted: number; rejected: number; errors: { index: number; message: string }[] };
          expect(out.accepted).toBe(mine.filter(({ c }) => c.expect === 'ok').length);
          expect(out.errors.map((e) => [e.index, e.message.slice(0, e.message.indexOf(':'))])).toEqual(mine.flatMap(({ c }, i) => (c.expect === 'ok' ? [] : [[i, c.expect]])));
        }
        await checkState(tally, model(list, key));
        // The same events to a source the pipeline does not declare: all refused.
        const unknown = await post(`nope-${key}`, lines(raws));
        const out = (await unknown.json()) as { accepted: number; errors: { message: string }[] };
        expect(out.accepted).toBe(0);
        expect(out.errors.map((e) => e.message.slice(0, e.message.indexOf(':')))).toEqual(list.map((c) => (c.expect === 'invalid-json' ? 'invalid-json' : 'unknown-source')));
      }),
      { numRuns: 100, seed: 20261125 },
    );
    // A hundred unknown source names, one metric series: names from requests add none.
    const metrics = await (await fetch(`${tally.url}/metrics`)).text();
    expect(metric(metrics, 'tally_events_rejected_total{source="(unknown)",reason="unknown-source"}')).toBeGreaterThan(0);
    expect(metrics).not.toContain('source="nope-');
  }, 300_000);

  it('refuses a 10 MB body whole, and keeps serving', async () => {
    const huge = await post('tx', json([{ card_id: 'big', amount: 1, ts: Date.now(), pad: 'x'.repeat(10 * 1024 * 1024) }]), 'application/json');
    expect(huge.status).toBe(413);
    const ok = await post('tx', json([{ card_id: 'after-big', amount: 3, ts: Date.now() }]), 'application/json');
    expect(await ok.json()).toEqual({ accepted: 1, rejected: 0, errors: [] });
    expect((await fetch(`${tally.url}/health`)).status).toBe(200);
  });
});

describe('ingest fuzzing through Kafka', () => {
  let brokers: string;
  let tally: RunningTally;
  const tx = uniqueName('fuzz-tx');
  const pos = uniqueName('fuzz-pos');
  // Source topics take messages up to 16 MB, so a 10 MB event reaches Tally.
  const BIG = { 'max.message.bytes': String(16 * 1024 * 1024) };

  beforeAll(async () => {
    brokers = requireKafka();
    await createTopics(brokers, [
      { topic: tx, numPartitions: 1, config: BIG },
      { topic: pos, numPartitions: 1, config: BIG },
    ]);
    tally = await startTally(pipeline(tx, pos), { KAFKA_BROKERS: brokers, KAFKA_GROUP_ID: uniqueName('fuzz') });
  });
  afterAll(async () => {
    await tally?.close();
  });

  it('stays up, writes every bad event to the DLQ with its reason, and applies every good one', async () => {
    const now = Date.now();
    const key = 'k';
    const list = fc.sample(CASES, { numRuns: 400, seed: 4242 });
    const raws: (Buffer | null)[] = renderAll(list, key, now);
    // Oversized events (2 MB of spaces; 10 MB inside a JSON string), and a tombstone (no value).
    const extra: [number, Case, Buffer | null][] = [
      [50, { source: 'tx', kind: 'big', expect: 'too-large' }, Buffer.alloc(2 * 1024 * 1024, 0x20)],
      [150, { source: 'tx', kind: 'huge', expect: 'too-large' }, Buffer.concat([text(`{"card_id":"${key}-card-0","amount":1,"pad":"`), Buffer.alloc(10 * 1024 * 1024, 0x61), text('"}')])],
      [250, { source: 'pos', kind: 'tombstone', expect: 'invalid-json' }, null],
    ];
    for (const [at, c, raw] of extra) {
      list.splice(at, 0, c);
      raws.splice(at, 0, raw);
    }
    const events = list.map((c, i) => ({ c, raw: raws[i] }));
    const bySource = { tx: events.filter((e) => e.c.source === 'tx'), pos: events.filter((e) => e.c.source === 'pos') };
    // In slices, so no produce request nears the broker's request size limit.
    for (const source of ['tx', 'pos'] as const) {
      const topic = source === 'tx' ? tx : pos;
      for (let i = 0; i < bySource[source].length; i += 20) await produce(brokers, topic, bySource[source].slice(i, i + 20).map((e) => ({ value: e.raw })));
    }
    const expectedGood = list.filter((c) => c.expect === 'ok').length;
    const expectedBad = list.length - expectedGood;
    const counts = async () => {
      const t = await (await fetch(`${tally.url}/metrics`)).text();
      const accepted = metric(t, 'tally_events_accepted_total{source="tx"}') + metric(t, 'tally_events_accepted_total{source="pos"}');
      const dlq = metric(t, `tally_dlq_messages_total{topic="${tx}"}`) + metric(t, `tally_dlq_messages_total{topic="${pos}"}`);
      return { accepted, dlq };
    };
    await eventually('every event to be applied or written to the DLQ', async () => {
      const c = await counts();
      return c.accepted === expectedGood && c.dlq === expectedBad;
    }, 90_000);

    for (const source of ['tx', 'pos'] as const) {
      const topic = source === 'tx' ? tx : pos;
      const bad = bySource[source].filter((e) => e.c.expect !== 'ok');
      // The DLQ may have several partitions: order its records by the offset they came from.
      const dlq = (await consumeAll(brokers, `${topic}.dlq`, { expected: bad.length, timeoutMs: 60_000 })).sort((a, b) => Number(a.headers['tally-source-offset']) - Number(b.headers['tally-source-offset']));
      expect(dlq.map((m) => m.headers['tally-reason'])).toEqual(bad.map((e) => e.c.expect));
      expect(dlq.every((m) => m.headers['tally-source-topic'] === topic && m.headers['tally-error'].length > 0)).toBe(true);
      // Refused messages are copied, but those too large for the DLQ topic: their headers say where they are.
      bad.forEach((e, i) => {
        const big = (e.raw?.length ?? 0) > 512 * 1024;
        expect([dlq[i].value === (e.raw === null ? null : e.raw.toString()) || big, dlq[i].headers['tally-omitted-bytes']]).toEqual([true, big ? String(e.raw!.length) : undefined]);
      });
    }
    await checkState(tally, model(list, key));
    expect((await fetch(`${tally.url}/health`)).status).toBe(200);
  }, 300_000);
});
