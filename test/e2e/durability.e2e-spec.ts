// Durability as an operator meets it, with Tally as a process (dist/main.js) on a data
// directory: a snapshot on demand and on SIGTERM, a restart that replays nothing twice, a
// corrupt newest snapshot skipped, a retention gap refused (and rebuilt on request), and in
// embedded mode every acknowledged ingest surviving SIGKILL with TALLY_FSYNC=always.
import { mkdtempSync, readdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { inspectSnapshot } from '../../src/durability/index.js';
import { startTally } from '../support/app.js';
import { createTopics, produce, requireKafka, uniqueName } from '../support/kafka.js';
import { mulberry32 } from '../support/random.js';
import { health, ready, sleep, startTallyProcess, stopTallyProcess, waitForHealth, type TallyProcess } from '../support/tally-process.js';

const T0 = Date.now() - 600_000;

async function gql<T>(url: string, query: string, variables?: Record<string, unknown>): Promise<{ data?: T; errors?: { message: string }[]; extensions?: Record<string, unknown> }> {
  const res = await fetch(`${url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query, variables }) });
  return (await res.json()) as { data?: T; errors?: { message: string }[]; extensions?: Record<string, unknown> };
}

async function data<T>(url: string, query: string, variables?: Record<string, unknown>): Promise<T> {
  const r = await gql<T>(url, query, variables);
  if (r.errors?.length) throw new Error(JSON.stringify(r.errors));
  return r.data!;
}

const digestOf = async (url: string, at = T0 + 3_600_000) => (await data<{ digest: { digest: string } }>(url, `{ digest(at: "${new Date(at).toISOString()}") { digest } }`)).digest.digest;

async function counts(url: string, cards: string[]): Promise<Map<string, number>> {
  const r = await data<{ onlineFeatures: { entity: string; values: number[] }[] }>(url, `{ onlineFeatures(entities: ${JSON.stringify(cards)}, features: ["n:lifetime"]) { entity values } }`);
  return new Map(r.onlineFeatures.map((x) => [x.entity, x.values[0]]));
}

async function eventually(what: string, probe: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const started = Date.now();
  while (!(await probe())) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

describe('durability (Tally as a process)', () => {
  const running: TallyProcess[] = [];
  const dirs: string[] = [];
  const workDir = () => {
    const d = mkdtempSync(join(tmpdir(), 'tally-durability-'));
    dirs.push(d);
    return d;
  };
  const start = async (env: Record<string, string>) => {
    const p = await startTallyProcess(env);
    running.push(p);
    return p;
  };
  afterAll(async () => {
    for (const p of running) if (p.child.exitCode === null && p.child.signalCode === null) process.kill(p.pid, 'SIGKILL');
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  describe('with Kafka', () => {
    let brokers: string;
    let topic: string;
    let env: Record<string, string>;
    const cards = Array.from({ length: 30 }, (_, i) => `card-${i}`);
    const model = new Map<string, number>();
    let sent = 0;

    async function send(n: number): Promise<void> {
      const rand = mulberry32(sent + 1);
      const msgs = [];
      for (let i = 0; i < n; i++, sent++) {
        const card = cards[Math.floor(rand() * cards.length)];
        model.set(card, (model.get(card) ?? 0) + 1);
        msgs.push({ key: card, value: JSON.stringify({ card, amount: 1 + (sent % 7), ts: T0 + sent }) });
      }
      await produce(brokers, topic, msgs);
    }
    const consumedAll = (url: string) => async () => {
      const c = await counts(url, cards);
      return cards.every((k) => (c.get(k) ?? 0) === (model.get(k) ?? 0));
    };

    beforeAll(async () => {
      brokers = requireKafka();
      topic = uniqueName('durable-tx');
      await createTopics(brokers, [{ topic, numPartitions: 3 }]);
      const dir = workDir();
      const pipeline = join(dir, 'pipeline.yaml');
      writeFileSync(
        pipeline,
        `sources: [{ name: tx, topic: ${topic}, timestamp: ts, lateness: 1h }]
features:
  - { name: n, source: tx, entity: card, aggregation: count, windows: [1h, lifetime] }
  - { name: s, source: tx, entity: card, aggregation: sum, field: amount, windows: [lifetime] }
leaderboards:
  - { name: top, source: tx, member: card, score: amount, mode: incr, period: all }
`,
      );
      env = { KAFKA_BROKERS: brokers, KAFKA_GROUP_ID: uniqueName('durable'), KAFKA_SESSION_TIMEOUT_MS: '6000', TALLY_PIPELINE: pipeline, TALLY_DATA_DIR: join(dir, 'data'), TALLY_SNAPSHOT_INTERVAL: '0' };
    });

    it('snapshots on demand and on SIGTERM; a restart loads it, equals it and replays nothing twice', async () => {
      await send(600);
      const a = await start(env);
      await ready(a.url);
      await eventually('all 600 events', consumedAll(a.url));
      const snap = await data<{ snapshot: { generation: number; path: string; reason: string; offsets: { topic: string; partition: number; offset: string }[] } }>(
        a.url,
        'mutation { snapshot { generation path reason offsets { topic partition offset } } }',
      );
      expect(snap.snapshot).toMatchObject({ generation: 1, reason: 'admin' });
      expect(snap.snapshot.offsets.reduce((n, o) => n + Number(o.offset) + 1, 0)).toBe(600);
      const before = await digestOf(a.url);
      expect(await stopTallyProcess(a, 'SIGTERM')).toEqual({ code: 0, signal: null });
      const shutdownSnapshot = join(env.TALLY_DATA_DIR, 'snapshots', 'snapshot-000000000002.tsnap');
      expect((await inspectSnapshot(shutdownSnapshot)).meta).toMatchObject({ generation: 2, reason: 'shutdown' });

      // The group's committed offsets are the snapshot's: never ahead of one.
      const admin = new Kafka({ clientId: 'durability-test', brokers: brokers.split(','), logLevel: logLevel.NOTHING }).admin();
      await admin.connect();
      const committed = (await admin.fetchOffsets({ groupId: env.KAFKA_GROUP_ID, topics: [topic] }))[0].partitions.map((p) => Number(p.offset)).reduce((x, y) => x + y, 0);
      await admin.disconnect();
      expect(committed).toBe(600);

      const b = await start(env);
      const h = await ready(b.url);
      expect(h.restore).toMatchObject({ state: 'done', snapshot: shutdownSnapshot, skipped: [] });
      expect(await digestOf(b.url)).toBe(before);
      await send(150);
      await eventually('750 events, each counted once', consumedAll(b.url));
      const top = await data<{ leaderboard: { score: number }[] }>(b.url, '{ leaderboard(name: "top", limit: 100) { score } }');
      let sum = 0;
      for (let i = 0; i < sent; i++) sum += 1 + (i % 7);
      expect(top.leaderboard.reduce((n, r) => n + r.score, 0)).toBe(sum);

      // Kill it, spoil the newest snapshot: the previous one is used and Kafka replays the rest.
      process.kill(b.pid, 'SIGKILL');
      await b.exited;
      await send(50);
      truncateSync(shutdownSnapshot, 100);
      const c = await start(env);
      const hc = await ready(c.url);
      expect(hc.restore).toMatchObject({ state: 'done', snapshot: join(env.TALLY_DATA_DIR, 'snapshots', 'snapshot-000000000001.tsnap'), skipped: [shutdownSnapshot] });
      expect(c.output()).toContain('snapshot is torn or corrupt');
      await eventually('800 events after the fallback, each counted once', consumedAll(c.url));
      await stopTallyProcess(c, 'SIGTERM');
    });

    it('refuses to become ready when Kafka no longer holds what the snapshot needs, and rebuilds on request', async () => {
      const gapTopic = uniqueName('durable-gap');
      await createTopics(brokers, [{ topic: gapTopic, numPartitions: 1 }]);
      const dir = workDir();
      const pipeline = join(dir, 'pipeline.yaml');
      writeFileSync(pipeline, `sources: [{ name: tx, topic: ${gapTopic}, timestamp: ts, lateness: 1h }]\nfeatures: [{ name: n, source: tx, entity: card, aggregation: count, windows: [lifetime] }]\n`);
      const genv = { ...env, TALLY_PIPELINE: pipeline, TALLY_DATA_DIR: join(dir, 'data'), KAFKA_GROUP_ID: uniqueName('gap') };
      const one = (i: number) => ({ key: 'k', value: JSON.stringify({ card: 'k', ts: T0 + i }) });
      await produce(brokers, gapTopic, Array.from({ length: 10 }, (_, i) => one(i)));
      const a = await start(genv);
      await ready(a.url);
      await eventually('10 events', async () => (await counts(a.url, ['k'])).get('k') === 10);
      await stopTallyProcess(a, 'SIGTERM');
      // More events, then the broker drops everything before offset 15 (as retention would).
      await produce(brokers, gapTopic, Array.from({ length: 10 }, (_, i) => one(10 + i)));
      const admin = new Kafka({ clientId: 'durability-test', brokers: brokers.split(','), logLevel: logLevel.NOTHING }).admin();
      await admin.connect();
      await admin.fetchTopicMetadata({ topics: [gapTopic] });
      await admin.deleteTopicRecords({ topic: gapTopic, partitions: [{ partition: 0, offset: '15' }] });
      await admin.disconnect();

      const b = await start(genv);
      const refused = await waitForHealth(b.url, (h) => h.restore?.state === 'refused');
      expect(refused.restore!.reason).toMatch(new RegExp(`${gapTopic}\\[0\\] needs offset 10, the earliest kept is 15.*TALLY_REBUILD_FROM_EARLIEST=1`));
      expect((await health(b.url)).httpStatus).toBe(503);
      // Queries still answer, from the snapshot, marked stale.
      const q = await gql<{ feature: { value: number } }>(b.url, '{ feature(name: "n", entity: "k", window: "lifetime") { value } }');
      expect(q).toMatchObject({ data: { feature: { value: 10 } }, extensions: { stale: true } });
      await stopTallyProcess(b, 'SIGTERM');

      const c = await start({ ...genv, TALLY_REBUILD_FROM_EARLIEST: '1' });
      await ready(c.url);
      await eventually('the 5 events Kafka still holds', async () => (await counts(c.url, ['k'])).get('k') === 5);
      const fresh = await gql<{ feature: { value: number } }>(c.url, '{ feature(name: "n", entity: "k", window: "lifetime") { value } }');
      expect(fresh.extensions?.stale).toBeUndefined();
      await stopTallyProcess(c, 'SIGTERM');
    });
  });

  it('lets only an admin key write a snapshot or read the digest', async () => {
    const keys = { reader: 'reader-key-0123456789', writer: 'writer-key-0123456789', admin: 'admin-key-01234567890' };
    const tally = await startTally('sources: [{ name: tx }]\nfeatures: [{ name: n, source: tx, entity: card, aggregation: count, windows: [lifetime] }]\n', {
      TALLY_API_KEYS: Object.entries(keys).map(([role, key]) => `${key}:${role}`).join(','),
      TALLY_DATA_DIR: join(workDir(), 'data'),
    });
    try {
      const ask = async (key: string, query: string) => {
        const res = await fetch(`${tally.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` }, body: JSON.stringify({ query }) });
        return { status: res.status, body: (await res.json()) as { data?: Record<string, { generation?: number; digest?: string }> } };
      };
      for (const query of ['mutation { snapshot { generation } }', '{ digest { digest } }']) {
        expect((await ask(keys.reader, query)).status).toBe(403);
        expect((await ask(keys.writer, query)).status).toBe(403);
      }
      await waitForHealth(tally.url, (h) => h.status === 'ok');
      expect((await ask(keys.admin, 'mutation { snapshot { generation } }')).body.data).toEqual({ snapshot: { generation: 1 } });
      expect((await ask(keys.admin, '{ digest { digest } }')).body.data?.digest.digest).toMatch(/^[0-9a-f]{64}$/);
    } finally {
      await tally.close();
    }
  });

  describe('embedded mode', () => {
    it('keeps every ingest acknowledged with TALLY_FSYNC=always across SIGKILLs, each exactly once', async () => {
      const dir = workDir();
      const pipeline = join(dir, 'pipeline.yaml');
      writeFileSync(pipeline, `sources: [{ name: tx, timestamp: ts, lateness: 1h }]\nfeatures: [{ name: n, source: tx, entity: call, aggregation: count, windows: [lifetime] }]\n`);
      const env = { KAFKA_BROKERS: '', TALLY_PIPELINE: pipeline, TALLY_DATA_DIR: join(dir, 'data'), TALLY_FSYNC: 'always', TALLY_SNAPSHOT_INTERVAL: '300ms' };
      const rand = mulberry32(99);
      const acked = new Map<string, number>();
      const sentCalls = new Map<string, number>();
      let call = 0;
      for (let round = 0; round < 3; round++) {
        const p = await start(env);
        await ready(p.url);
        const stop = { at: Date.now() + 500 + rand() * 1_500 };
        // Four clients ingest concurrently until the kill: each call a distinct entity with k events.
        const client = async () => {
          while (Date.now() < stop.at) {
            const id = `call-${call++}`;
            const k = 1 + Math.floor(rand() * 5);
            sentCalls.set(id, k);
            const events = Array.from({ length: k }, () => ({ call: id, ts: T0 }));
            try {
              const res = await fetch(`${p.url}/ingest/tx`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(events) });
              if (res.status === 200 && ((await res.json()) as { accepted: number }).accepted === k) acked.set(id, k);
            } catch {
              // killed mid-request: not acknowledged
            }
          }
        };
        const clients = [client(), client(), client(), client()];
        await sleep(stop.at - Date.now());
        process.kill(p.pid, 'SIGKILL');
        await p.exited;
        await Promise.all(clients);
      }
      const p = await start(env);
      await ready(p.url);
      expect(acked.size).toBeGreaterThan(20);
      const ids = [...sentCalls.keys()];
      const seen = new Map<string, number>();
      for (let i = 0; i < ids.length; i += 500) {
        for (const [id, n] of await counts(p.url, ids.slice(i, i + 500))) seen.set(id, n);
      }
      // Acknowledged: all there. Any call: all of its events or none (a record is atomic), never more.
      const missing = [...acked].filter(([id, k]) => seen.get(id) !== k).map(([id]) => id);
      const partial = [...sentCalls].filter(([id, k]) => (seen.get(id) ?? 0) !== 0 && seen.get(id) !== k).map(([id]) => id);
      expect({ missing, partial }).toEqual({ missing: [], partial: [] });
      expect(readdirSync(join(env.TALLY_DATA_DIR, 'snapshots')).length).toBeGreaterThan(0);
      await stopTallyProcess(p, 'SIGTERM');
    });
  });
});
