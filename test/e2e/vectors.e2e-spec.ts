// Vector search as a client meets it, with Tally as a process (dist/main.js) reading a real
// broker: card embeddings ingested over Kafka, `similar` with and without `where` against a
// brute-force model, each hit's features in the same request, an update and a TTL expiry
// taking the old vector out of results, a bad vector refused alone, and a restart from a
// snapshot answering the same.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTopics, produce, requireKafka, uniqueName } from '../support/kafka.js';
import { mulberry32 } from '../support/random.js';
import { ready, sleep, startTallyProcess, stopTallyProcess, type TallyProcess } from '../support/tally-process.js';

const DIMS = 4;
const TTL_MS = 3_600_000;
const NOW = Date.now();

interface Card {
  card: string;
  emb: number[];
  country: string;
  blocked: boolean;
  ts: number;
}

async function gql<T>(url: string, query: string, variables?: Record<string, unknown>): Promise<{ data?: T; errors?: { message: string }[] }> {
  const res = await fetch(`${url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query, variables }) });
  return (await res.json()) as { data?: T; errors?: { message: string }[] };
}

async function data<T>(url: string, query: string, variables?: Record<string, unknown>): Promise<T> {
  const r = await gql<T>(url, query, variables);
  if (r.errors?.length) throw new Error(JSON.stringify(r.errors));
  return r.data!;
}

async function eventually(what: string, probe: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const started = Date.now();
  while (!(await probe())) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

type Hit = { entity: string; distance: number };
const SIMILAR = `query($vector: [Float!], $entity: String, $where: String, $k: Int!) {
  similar(view: "card_emb", field: "emb", k: $k, vector: $vector, entity: $entity, where: $where) { entity distance }
}`;
const similar = async (url: string, args: { vector?: number[]; entity?: string; where?: string; k: number }) => (await data<{ similar: Hit[] }>(url, SIMILAR, args)).similar;

describe('vector search (Tally as a process, with Kafka)', () => {
  const running: TallyProcess[] = [];
  const dirs: string[] = [];
  let brokers: string;
  let topic: string;
  let env: Record<string, string>;
  /** The latest vector of each card, as the model of what is searchable. */
  const model = new Map<string, Card>();
  const rand = mulberry32(18);
  const vec = () => Array.from({ length: DIMS }, () => Math.round((rand() * 2 - 1) * 1000) / 1000);

  /** Nearest first by Euclidean distance among the model's live cards passing `pass`. */
  function nearest(q: number[], k: number, pass: (c: Card) => boolean = () => true, now = Date.now()): Hit[] {
    return [...model.values()]
      .filter((c) => now - c.ts <= TTL_MS && pass(c))
      .map((c) => ({ entity: c.card, distance: Math.hypot(...c.emb.map((x, i) => Math.fround(x) - Math.fround(q[i]))) }))
      .sort((a, b) => a.distance - b.distance || (a.entity < b.entity ? -1 : 1))
      .slice(0, k);
  }
  const expectSame = (got: Hit[], want: Hit[]) => {
    expect(got.map((h) => h.entity)).toEqual(want.map((h) => h.entity));
    got.forEach((h, i) => expect(h.distance).toBeCloseTo(want[i].distance, 5));
  };

  async function send(cards: (Card | Record<string, unknown>)[]): Promise<void> {
    await produce(
      brokers,
      topic,
      cards.map((c) => ({ key: String(c.card), value: JSON.stringify(c) })),
    );
  }

  const start = async () => {
    const p = await startTallyProcess(env);
    running.push(p);
    await ready(p.url);
    return p;
  };

  beforeAll(async () => {
    brokers = requireKafka();
    topic = uniqueName('card-embeddings');
    await createTopics(brokers, [{ topic, numPartitions: 2 }]);
    const dir = mkdtempSync(join(tmpdir(), 'tally-vectors-'));
    dirs.push(dir);
    const pipeline = join(dir, 'pipeline.yaml');
    writeFileSync(
      pipeline,
      `sources: [{ name: cards, topic: ${topic}, timestamp: ts, lateness: 2h }]
features:
  - { name: card_updates, source: cards, entity: card, aggregation: count, windows: [lifetime] }
views:
  - name: card_emb
    source: cards
    entity: card
    fields: { emb: { type: vector(${DIMS}), metric: l2 }, country: string, blocked: boolean }
    ttl: 1h
`,
    );
    env = { KAFKA_BROKERS: brokers, KAFKA_GROUP_ID: uniqueName('vectors'), KAFKA_SESSION_TIMEOUT_MS: '6000', TALLY_PIPELINE: pipeline, TALLY_DATA_DIR: join(dir, 'data'), TALLY_SNAPSHOT_INTERVAL: '0' };
  });

  afterAll(async () => {
    for (const p of running) if (p.child.exitCode === null && p.child.signalCode === null) process.kill(p.pid, 'SIGKILL');
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('ingests vectors over Kafka and answers similar as a brute-force model does, with where, updates, expiry and a restart', async () => {
    const cards: Card[] = Array.from({ length: 300 }, (_, i) => ({ card: `card-${i}`, emb: vec(), country: i % 3 === 0 ? 'FR' : 'DE', blocked: i % 4 === 0, ts: NOW - 60_000 + i }));
    // card-ttl expires 8 s after the test starts; two bad vectors are refused alone.
    const expiring: Card = { card: 'card-ttl', emb: [0.5, 0.5, 0.5, 0.5], country: 'FR', blocked: false, ts: NOW - TTL_MS + 8_000 };
    await send([...cards.slice(0, 150), { card: 'bad-length', emb: [1, 2, 3], country: 'FR', ts: NOW }, { card: 'bad-number', emb: [1, 'x', 3, 4], ts: NOW }, expiring, ...cards.slice(150)]);
    for (const c of [...cards, expiring]) model.set(c.card, c);

    const a = await start();
    await eventually('every card', async () => (await data<{ featureVector: unknown }>(a.url, '{ featureVector(view: "card_emb", entity: "card-299") { entity } }')).featureVector !== null);
    expect((await data<{ featureVector: unknown }>(a.url, '{ featureVector(view: "card_emb", entity: "bad-length") { entity } }')).featureVector).toBeNull();
    expect((await data<{ featureVector: unknown }>(a.url, '{ featureVector(view: "card_emb", entity: "bad-number") { entity } }')).featureVector).toBeNull();
    const emb = await data<{ featureVector: { values: { emb: number[] } } }>(a.url, '{ featureVector(view: "card_emb", entity: "card-7") { values } }');
    expect(emb.featureVector.values.emb).toEqual(cards[7].emb.map(Math.fround));

    const queries = [vec(), vec(), [0.5, 0.5, 0.5, 0.5]];
    for (const q of queries) {
      expectSame(await similar(a.url, { vector: q, k: 10 }), nearest(q, 10));
      expectSame(await similar(a.url, { vector: q, k: 10, where: 'country == "FR" && !blocked' }), nearest(q, 10, (c) => c.country === 'FR' && !c.blocked));
    }
    // Near an entity: the entity itself is left out.
    expectSame(await similar(a.url, { entity: 'card-5', k: 5 }), nearest(cards[5].emb, 6).filter((h) => h.entity !== 'card-5').slice(0, 5));

    // The fraud-ring call: similar cards and their features in one request.
    const ring = await data<{ similar: { entity: string; features: { values: unknown[] } }[] }>(
      a.url,
      '{ similar(view: "card_emb", field: "emb", k: 3, entity: "card-5") { entity features(names: ["card_updates:lifetime", "card_emb:country"]) { values } } }',
    );
    for (const hit of ring.similar) expect(hit.features.values).toEqual([1, model.get(hit.entity)!.country]);

    // Bad queries are named.
    const wrong = await gql(a.url, SIMILAR, { vector: [1, 2], k: 3 });
    expect(wrong.errors?.[0].message).toContain('vector has 2 numbers; field "emb" of view "card_emb" is vector(4)');

    // An update moves card-0 far away: its old position is not found again.
    const old = cards[0].emb;
    const moved: Card = { ...cards[0], emb: [9, 9, 9, 9], ts: NOW };
    await send([moved]);
    model.set('card-0', moved);
    await eventually('the update', async () => (await similar(a.url, { vector: [9, 9, 9, 9], k: 1 }))[0]?.entity === 'card-0');
    expectSame(await similar(a.url, { vector: old, k: 5 }), nearest(old, 5));
    expect((await similar(a.url, { vector: old, k: 5 })).map((h) => h.entity)).not.toContain('card-0');

    // TTL: card-ttl leaves the results once its hour is over.
    expect((await similar(a.url, { vector: [0.5, 0.5, 0.5, 0.5], k: 1 }))[0].entity).toBe('card-ttl');
    await sleep(Math.max(0, expiring.ts + TTL_MS - Date.now() + 500));
    const after = await similar(a.url, { vector: [0.5, 0.5, 0.5, 0.5], k: 10 });
    expect(after.map((h) => h.entity)).not.toContain('card-ttl');
    expectSame(after, nearest([0.5, 0.5, 0.5, 0.5], 10));

    // Restart from a snapshot: the same answers.
    const before = await Promise.all(queries.map((q) => similar(a.url, { vector: q, k: 10, where: 'country == "DE"' })));
    await data(a.url, 'mutation { snapshot { generation } }');
    expect(await stopTallyProcess(a, 'SIGTERM')).toEqual({ code: 0, signal: null });
    const b = await start();
    const restarted = await Promise.all(queries.map((q) => similar(b.url, { vector: q, k: 10, where: 'country == "DE"' })));
    expect(restarted).toEqual(before);
    queries.forEach((q, i) => expectSame(restarted[i], nearest(q, 10, (c) => c.country === 'DE')));
    await stopTallyProcess(b, 'SIGTERM');
  });
});
