// Arbitrary JSON values, numbers at the edges included, sent by HTTP ingest, the ingest
// mutation and Kafka into one durable instance (Tally as a process, TALLY_DATA_DIR, real
// broker): every value is accepted or refused by itself as a plain model of the router says,
// every read keeps answering, and after kill -9 and after SIGTERM the instance becomes ready
// with a state equal to the model of the accepted events.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { createTopics, produce, requireKafka, uniqueName } from '../support/kafka.js';
import { health, ready, sleep, startTallyProcess, stopTallyProcess, type TallyProcess } from '../support/tally-process.js';

const MAX_TIME = 8.64e15;
const FUTURE_MS = 5 * 60_000;

// ---------------------------------------------------------------------------------------
// The model: what the router must accept, written plainly from API.md and the README.
// ---------------------------------------------------------------------------------------

function depth(v: unknown): number {
  if (v === null || typeof v !== 'object') return 0;
  let d = 0;
  for (const x of Object.values(v as object)) d = Math.max(d, depth(x));
  return d + 1;
}

const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** The event time Tally must take, or undefined when it must refuse the timestamp. */
function eventTime(ts: unknown, now: number): number | undefined {
  let t: number;
  if (typeof ts === 'number') t = ts;
  else if (typeof ts === 'string' && ISO_UTC.test(ts)) t = Date.parse(ts);
  else return undefined;
  if (!(t >= 0 && t <= MAX_TIME) || t > now + FUTURE_MS) return undefined;
  return t;
}

function entityKey(v: unknown): string | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : undefined;
  if (typeof v === 'string') return v.length > 0 && v.length <= 512 ? v : undefined;
  return undefined;
}

/** { card, amount } of an event Tally must accept, or undefined for one it must refuse. */
function accepted(event: unknown, now: number): { card: string; amount: number } | undefined {
  if (event === null || typeof event !== 'object' || Array.isArray(event) || depth(event) > 64) return undefined;
  const e = event as Record<string, unknown>;
  if (eventTime(e.ts, now) === undefined) return undefined;
  const card = entityKey(e.card);
  const amount = e.amount;
  if (card === undefined || typeof amount !== 'number' || !Number.isFinite(amount) || Math.abs(amount) > 1e200) return undefined;
  return { card, amount };
}

class Model {
  readonly n = new Map<string, number>();
  readonly total = new Map<string, number>();
  readonly magnitude = new Map<string, number>();
  add(card: string, amount: number): void {
    this.n.set(card, (this.n.get(card) ?? 0) + 1);
    this.total.set(card, (this.total.get(card) ?? 0) + amount);
    this.magnitude.set(card, (this.magnitude.get(card) ?? 0) + Math.abs(amount));
  }
}

// ---------------------------------------------------------------------------------------
// What is sent: arbitrary JSON, and events whose fields take values at the edges.
// ---------------------------------------------------------------------------------------

const NOW = Date.now();
const EDGE_NUMBERS = [1e308, -1e308, 1.7976931348623157e308, 1e200, -1e200, 1e201, 8.64e15, 8.64e15 + 1, 8.64e15 - 1, 1e20, -1, -0, 0, 5e-324, 2 ** 53 + 1, 1e-300];
const edgeNumber = fc.constantFrom(...EDGE_NUMBERS);
const card = fc.oneof(fc.constantFrom('c1', 'c2', 'c3', 'P1', '__proto__', 'constructor'), fc.integer({ min: -3, max: 3 }), edgeNumber, fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 2 }));
const amount = fc.oneof(fc.integer({ min: -1000, max: 1000 }), fc.double({ noNaN: true, noDefaultInfinity: true }), edgeNumber, fc.jsonValue({ maxDepth: 2 }));
const ts = fc.oneof(
  fc.integer({ min: NOW - 86_400_000, max: NOW - 1 }),
  fc.integer({ min: NOW - 86_400_000, max: NOW - 1 }).map((t) => new Date(t).toISOString()),
  edgeNumber,
  fc.constantFrom('1e20', '2026-11-25T13:00:00+99:00', 'yesterday', '', '+275760-09-13T00:00:00.000Z'),
  fc.jsonValue({ maxDepth: 2 }),
);
const shaped = fc.record({ card, amount, ts }, { requiredKeys: [] });
const withProto = shaped.map((e) => JSON.parse(JSON.stringify(e).replace(/^\{/, '{"__proto__":{"polluted":1},')) as unknown);
const event = fc.oneof({ weight: 6, arbitrary: shaped }, { weight: 1, arbitrary: withProto }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 4 }) });
const batch = fc.record({ path: fc.constantFrom('http', 'mutation', 'kafka'), events: fc.array(event, { minLength: 1, maxLength: 25 }) });

// ---------------------------------------------------------------------------------------

describe('arbitrary events into a durable instance', () => {
  const dirs: string[] = [];
  const running: TallyProcess[] = [];
  let env: Record<string, string>;
  let brokers: string;
  let topic: string;
  const model = new Model();

  beforeAll(async () => {
    brokers = requireKafka();
    topic = uniqueName('hostile-tx');
    await createTopics(brokers, [{ topic, numPartitions: 2 }]);
    const dir = mkdtempSync(join(tmpdir(), 'tally-hostile-'));
    dirs.push(dir);
    const pipeline = join(dir, 'pipeline.yaml');
    // A lateness longer than the epoch: no event the model accepts is late, in any order.
    writeFileSync(
      pipeline,
      `sources: [{ name: tx, topic: ${topic}, timestamp: ts, lateness: 30000d }]
features:
  - { name: n, source: tx, entity: card, aggregation: count, windows: [lifetime] }
  - { name: total, source: tx, entity: card, aggregation: sum, field: amount, windows: [lifetime] }
`,
    );
    env = { KAFKA_BROKERS: brokers, KAFKA_GROUP_ID: uniqueName('hostile'), KAFKA_SESSION_TIMEOUT_MS: '6000', TALLY_PIPELINE: pipeline, TALLY_DATA_DIR: join(dir, 'data'), TALLY_FSYNC: 'always', TALLY_SNAPSHOT_INTERVAL: '0' };
  });
  afterAll(() => {
    for (const p of running) if (p.child.exitCode === null && p.child.signalCode === null) process.kill(p.pid, 'SIGKILL');
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  const start = async () => {
    const p = await startTallyProcess(env);
    running.push(p);
    return p;
  };

  async function post(url: string, path: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
    const res = await fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: res.status, json: (await res.json()) as Record<string, unknown> };
  }

  async function state(url: string): Promise<Map<string, [number | null, number | null]>> {
    const entities = [...model.n.keys()];
    if (entities.length === 0) return new Map();
    const r = await post(url, '/graphql', { query: 'query($e: [String!]!) { onlineFeatures(entities: $e, features: ["n:lifetime", "total:lifetime"]) { entity values } }', variables: { e: entities } });
    expect(r.json.errors).toBeUndefined();
    const rows = (r.json.data as { onlineFeatures: { entity: string; values: [number | null, number | null] }[] }).onlineFeatures;
    return new Map(rows.map((x) => [x.entity, x.values]));
  }

  function differences(got: Map<string, [number | null, number | null]>): string[] {
    const out: string[] = [];
    for (const [k, n] of model.n) {
      const [gn, gt] = got.get(k) ?? [null, null];
      const want = model.total.get(k)!;
      // Sums are added in another order after a replay: equal within float rounding.
      const close = gt !== null && Math.abs(gt - want) <= 1e-9 * Math.max(1, model.magnitude.get(k)!);
      if (gn !== n || !close) out.push(`${JSON.stringify(k)}: got [${gn}, ${gt}], want [${n}, ${want}]`);
    }
    return out;
  }

  async function equalsModel(url: string, timeoutMs = 60_000): Promise<void> {
    const started = Date.now();
    let diff: string[] = [];
    while (Date.now() - started < timeoutMs) {
      diff = differences(await state(url));
      if (diff.length === 0) return;
      await sleep(200);
    }
    throw new Error(`state differs from the model:\n${diff.slice(0, 20).join('\n')}`);
  }

  it('takes the case of the report: a timestamp of 1e20 between two good events', async () => {
    const a = await start();
    await ready(a.url);
    const now = Date.now();
    const events = [
      { card_id: 'P1', card: 'P1', amount: 10, merchant_id: 'm', ts: now },
      { card_id: 'P2', card: 'P2', amount: 1, merchant_id: 'm', ts: 1e20 },
      { card_id: 'P3', card: 'P3', amount: 1, merchant_id: 'm', ts: now },
    ];
    const r = await post(a.url, '/ingest/tx', events);
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ accepted: 2, rejected: 1, errors: [{ index: 1, message: expect.stringMatching(/^invalid-timestamp: /) }] });
    model.add('P1', 10);
    model.add('P3', 1);
    const m = await post(a.url, '/graphql', { query: 'mutation($e: [JSON!]!) { ingest(source: "tx", events: $e) { accepted rejected errors { index message } } }', variables: { e: [events[1]] } });
    expect(m.json.errors).toBeUndefined();
    expect(m.json.data).toMatchObject({ ingest: { accepted: 0, rejected: 1, errors: [{ index: 0, message: expect.stringMatching(/^invalid-timestamp: /) }] } });
    await equalsModel(a.url);
    process.kill(a.pid, 'SIGKILL');
    await a.exited;
    const b = await start();
    const h = await ready(b.url);
    expect(h.restore).toMatchObject({ state: 'done', replayedLogRecords: 2 });
    await equalsModel(b.url);
    const again = await post(b.url, '/ingest/tx', [{ card: 'P1', amount: 1, ts: Date.now() }]);
    expect(again.json).toMatchObject({ accepted: 1, rejected: 0 });
    model.add('P1', 1);
    await equalsModel(b.url);
    expect(await stopTallyProcess(b, 'SIGTERM')).toEqual({ code: 0, signal: null });
  });

  it('accepts or refuses each arbitrary value by itself, and comes back from kill -9 and SIGTERM equal to the model', async () => {
    const a = await start();
    await ready(a.url);
    await fc.assert(
      fc.asyncProperty(batch, async ({ path, events }) => {
        // What Tally receives is the JSON text: the model reads the same text.
        const sent = JSON.parse(JSON.stringify(events)) as unknown[];
        const now = Date.now();
        if (path === 'kafka') {
          await produce(
            brokers,
            topic,
            sent.map((e, i) => ({ key: `k${i}`, value: JSON.stringify(e) })),
          );
          for (const e of sent) {
            const ok = accepted(e, now);
            if (ok) model.add(ok.card, ok.amount);
          }
          return;
        }
        // The mutation takes a list of non-null JSON values; null is refused by GraphQL itself.
        const list = path === 'mutation' ? sent.filter((e) => e !== null) : sent;
        const r =
          path === 'http'
            ? await post(a.url, '/ingest/tx', list)
            : await post(a.url, '/graphql', { query: 'mutation($e: [JSON!]!) { ingest(source: "tx", events: $e) { accepted rejected errors { index message } } }', variables: { e: list } });
        expect(r.status).toBe(200);
        const out = (path === 'http' ? r.json : (r.json.data as { ingest: Record<string, unknown> }).ingest) as { accepted: number; rejected: number; errors: { index: number; message: string }[] };
        const refusedAt = new Set(out.errors.map((e) => e.index));
        list.forEach((e, i) => {
          const ok = accepted(e, now);
          expect({ event: e, accepted: !refusedAt.has(i) }).toEqual({ event: e, accepted: ok !== undefined });
          if (ok) model.add(ok.card, ok.amount);
        });
        expect(out.accepted + out.rejected).toBe(list.length);
      }),
      { numRuns: 60, seed: 20261204 },
    );
    // Reads keep answering throughout, and the state is the model's.
    await equalsModel(a.url);
    expect((await health(a.url)).status).toBe('ok');

    process.kill(a.pid, 'SIGKILL');
    await a.exited;
    const b = await start();
    await ready(b.url);
    await equalsModel(b.url);

    expect(await stopTallyProcess(b, 'SIGTERM')).toEqual({ code: 0, signal: null });
    const c = await start();
    const h = await ready(c.url);
    expect(h.restore?.state).toBe('done');
    await equalsModel(c.url);
    await stopTallyProcess(c, 'SIGTERM');
  });
});
