// A Tally cluster as an operator runs it: one broker, three Tally processes (dist/main.js) in
// one consumer group on a 12-partition topic. Formation (4/4/4, one map everywhere), point
// lookups through each instance against a brute-force model of the events, whole-set queries
// refused with the partitions named, ingest over HTTP/GraphQL produced keyed and applied once by
// the owners, and a restart under the same instance id (sticky).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTopics, produce, requireKafka, uniqueName } from '../support/kafka.js';
import { mulberry32 } from '../support/random.js';
import { freePort, ready, sleep, startTallyProcess, stopTallyProcess, type TallyProcess } from '../support/tally-process.js';

const SECRET = 'cluster-secret-for-tests';
const PARTITIONS = 12;
const USERS = 60;
const EVENTS = 1_200;

interface Report {
  instanceId: string;
  clustered: boolean;
  epoch: number;
  partitionCount: number;
  members: { instanceId: string; url: string; self: boolean; active: number[] }[];
  lag: { partition: number; lag: number }[];
}

async function gql<T>(url: string, query: string, variables?: Record<string, unknown>): Promise<{ data?: T; errors?: { message: string; extensions?: Record<string, unknown> }[] }> {
  const res = await fetch(`${url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query, variables }) });
  return (await res.json()) as { data?: T; errors?: { message: string; extensions?: Record<string, unknown> }[] };
}

async function data<T>(url: string, query: string, variables?: Record<string, unknown>): Promise<T> {
  const r = await gql<T>(url, query, variables);
  if (r.errors?.length) throw new Error(JSON.stringify(r.errors));
  return r.data!;
}

async function clusterOf(url: string): Promise<Report> {
  const res = await fetch(`${url}/cluster`);
  return (await res.json()) as Report;
}

/** The map without the answering instance's own view (self flag, lag). */
const mapOf = (r: Report) => ({ epoch: r.epoch, partitionCount: r.partitionCount, members: r.members.map((m) => ({ instanceId: m.instanceId, url: m.url, active: m.active })) });

async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const started = Date.now();
  let lastError: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}${lastError ? `; last error: ${String(lastError)}` : ''}`);
    await sleep(200);
  }
}

describe('cluster (three Tally processes, one broker)', () => {
  const brokers = requireKafka();
  const topic = uniqueName('cluster-events');
  const group = uniqueName('cluster-group');
  const dir = mkdtempSync(join(tmpdir(), 'tally-cluster-'));
  const pipeline = join(dir, 'pipeline.yaml');
  const running = new Map<string, TallyProcess & { base: string }>();
  const ports = new Map<string, number>();
  // The brute-force model: per user (the message key), events counted and the last level.
  const count = new Map<string, number>();
  const level = new Map<string, number>();
  const users = Array.from({ length: USERS }, (_, i) => `user-${i}`);

  const start = async (id: string) => {
    const port = ports.get(id) ?? (await freePort());
    ports.set(id, port);
    const base = `http://127.0.0.1:${port}`;
    const p = await startTallyProcess({
      PORT: String(port),
      KAFKA_BROKERS: brokers,
      KAFKA_GROUP_ID: group,
      TALLY_PIPELINE: pipeline,
      TALLY_INSTANCE_ID: id,
      TALLY_ADVERTISED_URL: base,
      TALLY_CLUSTER_SECRET: SECRET,
      KAFKA_SESSION_TIMEOUT_MS: '6000',
    });
    const member = { ...p, base };
    running.set(id, member);
    return member;
  };

  /** Waits until every running instance shows the same map of `n` members, balanced; returns it. */
  let lastSeen = '';
  const formed = (n: number) =>
    eventually(`a map of ${n} members shown by every instance (last: ${lastSeen})`, async () => {
      const reports = await Promise.all([...running.values()].map((p) => clusterOf(p.base)));
      lastSeen = JSON.stringify(reports.map(mapOf));
      const first = mapOf(reports[0]);
      if (first.members.length !== n || reports.some((r) => JSON.stringify(mapOf(r)) !== JSON.stringify(first))) return undefined;
      const sizes = first.members.map((m) => m.active.length);
      if (Math.max(...sizes) - Math.min(...sizes) > 1 || sizes.reduce((a, b) => a + b, 0) !== PARTITIONS) return undefined;
      return { map: first, reports };
    });

  beforeAll(async () => {
    writeFileSync(
      pipeline,
      [
        'sources:',
        `  - { name: events, topic: ${topic}, timestamp: ts }`,
        'features:',
        '  - { name: n, source: events, entity: user, aggregation: count, windows: [lifetime] }',
        'views:',
        '  - { name: profile, source: events, entity: user, fields: { level: int, taste: vector(2) } }',
        'leaderboards:',
        '  - { name: levels, source: events, member: user, score: level, mode: max, period: all }',
      ].join('\n'),
    );
    await createTopics(brokers, [{ topic, numPartitions: PARTITIONS }]);
    const rnd = mulberry32(15);
    const t0 = Date.now() - 60_000;
    const messages = Array.from({ length: EVENTS }, (_, i) => {
      const user = users[Math.floor(rnd() * USERS)];
      const lv = Math.floor(rnd() * 1000);
      count.set(user, (count.get(user) ?? 0) + 1);
      level.set(user, lv);
      return { key: user, value: JSON.stringify({ user, level: lv, ts: t0 + i }) };
    });
    await produce(brokers, topic, messages);
  }, 60_000);

  afterAll(async () => {
    for (const p of running.values()) if (p.child.exitCode === null && p.child.signalCode === null) process.kill(p.pid, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('forms 4/4/4 and every instance shows the same map (GET /cluster and the cluster query)', async () => {
    await Promise.all(['t1', 't2', 't3'].map((id) => start(id)));
    await Promise.all([...running.values()].map((p) => ready(p.base, 30_000)));
    const { map, reports } = await formed(3).catch((err: Error) => {
      throw new Error(`${err.message}; last seen ${lastSeen}`);
    });
    expect(map.members.map((m) => m.instanceId)).toEqual(['t1', 't2', 't3']);
    expect(map.members.map((m) => m.active.length)).toEqual([4, 4, 4]);
    expect(map.members.map((m) => m.url)).toEqual(['t1', 't2', 't3'].map((id) => `http://127.0.0.1:${ports.get(id)}`));
    for (const r of reports) {
      expect(r.clustered).toBe(true);
      expect(r.members.filter((m) => m.self).map((m) => m.instanceId)).toEqual([r.instanceId]);
      expect(r.lag.map((l) => l.partition)).toEqual(r.members.find((m) => m.self)!.active);
    }
    for (const p of running.values()) {
      const q = await data<{ cluster: Report }>(p.base, '{ cluster { instanceId clustered epoch partitionCount members { instanceId url self active } lag { partition lag } } }');
      expect(mapOf(q.cluster)).toEqual(map);
    }
  }, 120_000);

  it('answers every key through each instance as the model does (forwarded to the owner when not its own)', async () => {
    const instances = [...running.values()];
    // Every event applied by its owner (the owners are caught up when their lag is 0 and
    // their counts add up to the events produced).
    await eventually('every event applied', async () => {
      const r = await data<{ onlineFeatures: { values: number[] }[] }>(instances[0].base, `{ onlineFeatures(entities: ${JSON.stringify(users)}, features: ["n:lifetime"]) { values } }`);
      return r.onlineFeatures.reduce((a, x) => a + x.values[0], 0) === EVENTS ? true : undefined;
    });
    for (const p of instances) {
      const rows = await data<{ onlineFeatures: { entity: string; values: (number | null)[] }[] }>(
        p.base,
        `{ onlineFeatures(entities: ${JSON.stringify(users)}, features: ["n:lifetime", "profile:level"]) { entity values } }`,
      );
      expect(rows.onlineFeatures).toEqual(users.map((u) => ({ entity: u, values: [count.get(u) ?? 0, level.get(u) ?? null] })));
      for (const u of users.slice(0, 20)) {
        const f = await data<{ feature: { value: number }; featureVector: { values: { level: number } } | null }>(
          p.base,
          `query($u: String!) { feature(name: "n", entity: $u, window: "lifetime") { value } featureVector(view: "profile", entity: $u) { values } }`,
          { u },
        );
        expect(f.feature.value).toBe(count.get(u) ?? 0);
        expect(f.featureVector?.values.level ?? null).toBe(level.get(u) ?? null);
      }
    }
  }, 120_000);

  it('ingest over HTTP and GraphQL to one instance is produced keyed: every instance then answers those keys exactly, each event counted once', async () => {
    const instances = [...running.values()];
    const fresh = Array.from({ length: 24 }, (_, i) => `http-user-${i}`);
    const sent = new Map<string, number>();
    const last = new Map<string, number>();
    const rnd = mulberry32(515);
    const t0 = Date.now() - 30_000;
    const batch = (n: number, from: number) =>
      Array.from({ length: n }, (_, i) => {
        const user = fresh[Math.floor(rnd() * fresh.length)];
        const lv = Math.floor(rnd() * 1000);
        sent.set(user, (sent.get(user) ?? 0) + 1);
        last.set(user, lv);
        return { user, level: lv, ts: t0 + from + i };
      });
    // POST to t1, with one event lacking the key field (refused alone, by index).
    const http = batch(300, 0);
    const body = [...http.slice(0, 150), { level: 1, ts: t0 }, ...http.slice(150)];
    const res = await fetch(`${running.get('t1')!.base}/ingest/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ accepted: 300, rejected: 1, errors: [{ index: 150, message: 'missing-field: missing key field "user" (the events of this source are produced keyed by it)' }] });
    // The ingest mutation on t3 (events applied after the POSTed ones: a later ts for the view's last level).
    const viaGraphql = batch(200, 300);
    const m = await data<{ ingest: { accepted: number; rejected: number } }>(running.get('t3')!.base, 'mutation($e: [JSON!]!) { ingest(source: "events", events: $e) { accepted rejected } }', { e: viaGraphql });
    expect(m.ingest).toEqual({ accepted: 200, rejected: 0 });
    const expected = fresh.map((u) => ({ entity: u, values: [sent.get(u) ?? 0, last.get(u) ?? null] }));
    const query = `{ onlineFeatures(entities: ${JSON.stringify(fresh)}, features: ["n:lifetime", "profile:level"]) { entity values } }`;
    for (const p of instances) {
      await eventually(`${p.base} answering the ingested keys as the model does`, async () => {
        const rows = await data<{ onlineFeatures: { entity: string; values: (number | null)[] }[] }>(p.base, query);
        return JSON.stringify(rows.onlineFeatures) === JSON.stringify(expected) ? true : undefined;
      });
    }
    // Counted once: a while later, still exactly the number sent per key (no instance applied an event twice).
    await sleep(1_000);
    for (const p of instances) {
      const rows = await data<{ onlineFeatures: { entity: string; values: (number | null)[] }[] }>(p.base, query);
      expect(rows.onlineFeatures).toEqual(expected);
    }
  }, 120_000);

  it('refuses a query that needs every partition, naming the partitions not held, rather than answer in part', async () => {
    for (const p of running.values()) {
      const own = (await clusterOf(p.base)).members.find((m) => m.self)!.active;
      for (const query of ['{ leaderboard(name: "levels", limit: 5) { rank member score } }', '{ similar(view: "profile", field: "taste", k: 3, vector: [1, 0]) { entity distance } }']) {
        const r = await gql(p.base, query);
        expect(r.data).toBeNull();
        expect(r.errors?.[0].extensions?.code).toBe('PARTITIONS_UNAVAILABLE');
        expect(r.errors?.[0].extensions?.partitions).toEqual(Array.from({ length: PARTITIONS }, (_, i) => i).filter((i) => !own.includes(i)));
      }
    }
  });

  it('refuses a forwarded request with a wrong secret, and a receiver says NOT_OWNER for a key it does not hold', async () => {
    const p = running.get('t1')!;
    const wrong = await fetch(`${p.base}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-tally-cluster-secret': 'not-the-secret' }, body: JSON.stringify({ query: '{ feature(name: "n", entity: "user-1", window: "lifetime") { value } }' }) });
    expect(((await wrong.json()) as { errors: { extensions: { code: string } }[] }).errors[0].extensions.code).toBe('FORBIDDEN');
    const own = (await clusterOf(p.base)).members.find((m) => m.self)!.active;
    // Find a user whose partition t1 does not hold: a forwarded request for it is never forwarded again.
    let notMine: string | undefined;
    for (const u of users) {
      const res = await fetch(`${p.base}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-tally-cluster-secret': SECRET }, body: JSON.stringify({ query: `{ feature(name: "n", entity: "${u}", window: "lifetime") { value } }` }) });
      const body = (await res.json()) as { errors?: { extensions: { code: string; partition: number } }[] };
      if (body.errors?.length) {
        expect(body.errors[0].extensions.code).toBe('NOT_OWNER');
        expect(own).not.toContain(body.errors[0].extensions.partition);
        notMine = u;
        break;
      }
    }
    expect(notMine).toBeDefined();
  });

  it('gives an instance restarted under the same id its partitions back (sticky)', async () => {
    const before = (await formed(3)).map;
    const t2 = running.get('t2')!;
    await stopTallyProcess(t2, 'SIGTERM');
    running.delete('t2');
    const without = (await formed(2)).map;
    expect(without.members.map((m) => m.instanceId)).toEqual(['t1', 't3']);
    await start('t2');
    await ready(running.get('t2')!.base);
    const after = (await formed(3)).map;
    expect(after.epoch).toBeGreaterThan(without.epoch);
    expect(after.members.map((m) => ({ id: m.instanceId, active: m.active }))).toEqual(before.members.map((m) => ({ id: m.instanceId, active: m.active })));
    // And it answers exactly again, through itself, for every key.
    await eventually('t2 answering every key as the model does', async () => {
      const rows = await data<{ onlineFeatures: { entity: string; values: (number | null)[] }[] }>(running.get('t2')!.base, `{ onlineFeatures(entities: ${JSON.stringify(users)}, features: ["n:lifetime"]) { entity values } }`);
      return rows.onlineFeatures.every((r) => r.values[0] === (count.get(r.entity) ?? 0)) ? true : undefined;
    });
  }, 120_000);
});
