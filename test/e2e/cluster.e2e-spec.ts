// A Tally cluster as an operator runs it: one broker, three Tally processes (dist/main.js) in
// one consumer group on a 12-partition topic, and a single-instance reference reading the same
// topic in a group of its own. Formation (4/4/4, one map everywhere); 20,000 events, then point
// lookups through each instance against a brute-force model, and leaderboard top-N with
// offsets, every member's rank, around-me, geo radius, nearest and position through each
// instance byte for byte equal to the reference (ties included); ingest over HTTP/GraphQL
// produced keyed and applied once by the owners; kill -9 of a member while producing (a client
// polling throughout sees exact, stale-but-consistent or PARTITIONS_UNAVAILABLE answers, never
// a wrong one; then 0 lost, 0 counted twice); restarts under the same instance id (sticky).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { KafkaEventWriter } from '../../src/ingest/kafka-ingest.js';
import { keyPartitioner } from '../../src/ingest/tally-assigner.js';
import { collect, wsClient } from '../support/app.js';
import { createTopics, produce, requireKafka, uniqueName } from '../support/kafka.js';
import { mulberry32 } from '../support/random.js';
import { clusterOf, data, eventually, gql, mapOf, metric, type Report } from '../support/cluster.js';
import { freePort, ready, sleep, startTallyProcess, stopTallyProcess, type TallyProcess } from '../support/tally-process.js';

const SECRET = 'cluster-secret-for-tests';
const PARTITIONS = 12;
const USERS = 1_000;
const EVENTS = 20_000;
/** The fence of the geo index, and the circle of the geoWithin subscriptions. */
const CENTRE = { lat: 48.85, lon: 2.37, radiusMeters: 1500 };

/** A position in a 10 km square, rounded to 1e-5 degrees (a metre). */
function place(rnd: () => number): { lat: number; lon: number } {
  return { lat: Math.round((48.8 + rnd() * 0.1) * 1e5) / 1e5, lon: Math.round((2.3 + rnd() * 0.14) * 1e5) / 1e5 };
}

/** Ranks a model leaderboard: highest score first, equal scores by member UTF-8 bytes, larger first (Redis ZREVRANGE). */
function ranked(scores: Map<string, number>): { rank: number; member: string; score: number }[] {
  return [...scores]
    .sort(([a, x], [b, y]) => y - x || Buffer.compare(Buffer.from(b), Buffer.from(a)))
    .map(([member, score], i) => ({ rank: i + 1, member, score }));
}

/** The same query through `url` and through the reference, as JSON text; throws on errors. */
async function both(url: string, referenceUrl: string, query: string): Promise<[string, string]> {
  const [a, b] = await Promise.all([gql(url, query), gql(referenceUrl, query)]);
  if (a.errors?.length || b.errors?.length) throw new Error(`errors: ${JSON.stringify(a.errors ?? b.errors)}`);
  return [JSON.stringify(a.data), JSON.stringify(b.data)];
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
  // And the best level per user (the leaderboard keeps the max).
  const best = new Map<string, number>();
  // Events per team (a field of the events, not their key: a repartitioned store).
  const teamCount = new Map<string, number>();
  const teamOf = (user: string) => `team-${[...user].reduce((h, c) => (h * 31 + c.charCodeAt(0)) % 37, 0)}`;
  // When (event time) each user first reached its best level, in the first 20,000 events.
  const bestAt = new Map<string, number>();
  const users = Array.from({ length: USERS }, (_, i) => `user-${i}`);

  let reference: (TallyProcess & { base: string }) | undefined;
  const applied = async (url: string) => metric(await (await fetch(`${url}/metrics`)).text(), 'tally_events_accepted_total');
  const loaded = async (url: string) => metric(await (await fetch(`${url}/metrics`)).text(), 'tally_cluster_handover_loaded_total');
  const ref = () => reference!.base;
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
      // Each member writes its partitions' state every second: a crash's new owners read on from there.
      TALLY_STATE_INTERVAL: '1s',
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
        `  - { name: events, topic: ${topic}, timestamp: ts, key: user }`,
        'features:',
        '  - { name: n, source: events, entity: user, aggregation: count, windows: [lifetime] }',
        // Keyed by another field than the message key: repartitioned to each team's owner.
        '  - { name: team_n, source: events, entity: team, aggregation: count, windows: [lifetime] }',
        '  - { name: team_levels, source: events, entity: team, aggregation: sum, field: level, windows: [lifetime, 1h] }',
        '  - { name: fence_entries, source: places.fences, entity: fence, aggregation: count, windows: [lifetime], where: \'kind == "enter"\' }',
        'views:',
        '  - { name: profile, source: events, entity: user, fields: { level: int, taste: vector(2) } }',
        'leaderboards:',
        '  - { name: levels, source: events, member: user, score: level, mode: max, period: all }',
        // Equal levels ranked by who reached them first (in event time), across members too.
        '  - { name: firsts, source: events, member: user, score: level, mode: max, period: all, ties: first }',
        '  - { name: teams, source: events, member: team, score: level, mode: incr, period: all }',
        'geo:',
        '  - name: places',
        '    source: events',
        '    member: user',
        '    lat: lat',
        '    lon: lon',
        `    fences: [{ name: centre, circle: { lat: ${CENTRE.lat}, lon: ${CENTRE.lon}, radiusMeters: ${CENTRE.radiusMeters} } }]`,
      ].join('\n'),
    );
    await createTopics(brokers, [{ topic, numPartitions: PARTITIONS }]);
    const rnd = mulberry32(15);
    const t0 = Date.now() - 60_000;
    const messages = Array.from({ length: EVENTS }, (_, i) => {
      const user = users[Math.floor(rnd() * USERS)];
      // Few distinct levels: many equal scores, so the tie order is checked too.
      const lv = Math.floor(rnd() * 200);
      count.set(user, (count.get(user) ?? 0) + 1);
      level.set(user, lv);
      if (!best.has(user) || lv > best.get(user)!) bestAt.set(user, t0 + i);
      best.set(user, Math.max(lv, best.get(user) ?? 0));
      // A taste vector with few distinct directions: many equal distances, ordered by entity.
      teamCount.set(teamOf(user), (teamCount.get(teamOf(user)) ?? 0) + 1);
      return { key: user, value: JSON.stringify({ user, team: teamOf(user), level: lv, ...place(rnd), taste: [(lv % 7) + 1, (i % 11) + 1], ts: t0 + i }) };
    });
    await produce(brokers, topic, messages);
    // The reference: one instance, not a cluster member, reading the same topic in its own group.
    const port = await freePort();
    const p = await startTallyProcess({ PORT: String(port), KAFKA_BROKERS: brokers, KAFKA_GROUP_ID: `${group}-reference`, TALLY_PIPELINE: pipeline, TALLY_INSTANCE_ID: 'reference' });
    reference = { ...p, base: `http://127.0.0.1:${port}` };
  }, 90_000);

  afterAll(async () => {
    if (reference && reference.child.exitCode === null && reference.child.signalCode === null) process.kill(reference.pid, 'SIGKILL');
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
    // Stores keyed by a field of the events (team), not their key: whole at each team's owner,
    // answered through every instance as one instance does, and as the model counts.
    const teams = [...teamCount.keys()].sort();
    const teamQuery = `{ onlineFeatures(entities: ${JSON.stringify(teams)}, features: ["team_n:lifetime", "team_levels:lifetime", "team_levels:1h"]) { entity values } }`;
    await eventually('every team count whole through t1', async () => {
      const rows = await data<{ onlineFeatures: { entity: string; values: number[] }[] }>(instances[0].base, teamQuery);
      return rows.onlineFeatures.every((r) => r.values[0] === teamCount.get(r.entity)) ? true : undefined;
    });
    for (const p of instances) {
      const [a, b] = await both(p.base, ref(), teamQuery);
      expect(a).toBe(b);
      const one = await data<{ feature: { value: number } }>(p.base, `{ feature(name: "team_n", entity: "${teams[3]}", window: "lifetime") { value } }`);
      expect(one.feature.value).toBe(teamCount.get(teams[3]));
    }
  }, 120_000);

  it('answers leaderboards (top-N with offsets, every rank, around-me) and geo (radius, nearest, position) through each instance exactly as one instance does', async () => {
    await ready(ref(), 60_000);
    // The reference holds every event (and is itself checked against the model).
    await eventually('the reference applied every event', async () => {
      const r = await data<{ leaderboard: { member: string }[] }>(ref(), '{ leaderboard(name: "levels", limit: 1000) { member } }');
      return r.leaderboard.length === best.size ? true : undefined;
    });
    const model = ranked(best);
    const top = await data<{ leaderboard: { rank: number; member: string; score: number }[] }>(ref(), '{ leaderboard(name: "levels", offset: 100, limit: 100) { rank member score } }');
    expect(top.leaderboard).toEqual(model.slice(100, 200));
    // ties: first: equal levels by the time they were reached, then as ties: redis.
    const firsts = [...best]
      .sort(([a, x], [b, y]) => y - x || bestAt.get(a)! - bestAt.get(b)! || Buffer.compare(Buffer.from(b), Buffer.from(a)))
      .map(([member, score], i) => ({ rank: i + 1, member, score }));
    const firstsTop = await data<{ leaderboard: { rank: number; member: string; score: number }[] }>(ref(), '{ leaderboard(name: "firsts", offset: 50, limit: 150) { rank member score } }');
    expect(firstsTop.leaderboard).toEqual(firsts.slice(50, 200));
    const members = [...best.keys()].sort();
    for (const p of running.values()) {
      for (const offset of [0, 50, 400]) {
        const [a, b] = await both(p.base, ref(), `{ leaderboard(name: "firsts", offset: ${offset}, limit: 100) { rank member score updatedAt } }`);
        expect(a).toBe(b);
      }
      for (let i = 0; i < members.length; i += 125) {
        const q = `{ ${members.slice(i, i + 25).map((m, j) => `r${j}: leaderboardRank(name: "firsts", member: "${m}") { rank member score updatedAt } a${j}: leaderboardAround(name: "firsts", member: "${m}", radius: 2) { rank member }`).join(' ')} }`;
        const [a, b] = await both(p.base, ref(), q);
        expect(a).toBe(b);
      }
      for (const offset of [0, 37, 100, 900]) {
        const [a, b] = await both(p.base, ref(), `{ leaderboard(name: "levels", offset: ${offset}, limit: 100) { rank member score updatedAt } }`);
        expect(a).toBe(b);
      }
      // Every member's rank, 50 per request (aliases).
      for (let i = 0; i < members.length; i += 50) {
        const q = `{ ${members.slice(i, i + 50).map((m, j) => `r${j}: leaderboardRank(name: "levels", member: "${m}") { rank member score updatedAt }`).join(' ')} }`;
        const [a, b] = await both(p.base, ref(), q);
        expect(a).toBe(b);
      }
      // A leaderboard of teams (not the message key): its members live whole at their owners.
      const [teamsTop, teamsTopRef] = await both(p.base, ref(), '{ leaderboard(name: "teams", limit: 50) { rank member score updatedAt } leaderboardRank(name: "teams", member: "team-7") { rank score } }');
      expect(teamsTop).toBe(teamsTopRef);
      const [absent, absentRef] = await both(p.base, ref(), '{ leaderboardRank(name: "levels", member: "nobody") { rank } leaderboardAround(name: "levels", member: "nobody") { rank } }');
      expect(absent).toBe(absentRef);
      for (const m of [model[0].member, model[1].member, model[model.length - 1].member, ...members.filter((_, i) => i % 97 === 0)]) {
        const [a, b] = await both(p.base, ref(), `{ leaderboardAround(name: "levels", member: "${m}", radius: 4) { rank member score updatedAt } }`);
        expect(a).toBe(b);
      }
      for (const [lat, lon] of [[48.85, 2.37], [48.81, 2.31], [48.9, 2.44], [40, -70]]) {
        const [a, b] = await both(
          p.base,
          ref(),
          `{ s: geoSearch(index: "places", lat: ${lat}, lon: ${lon}, radiusMeters: 1500, limit: 60) { member lat lon distanceMeters reportedAt } n: geoNearest(index: "places", lat: ${lat}, lon: ${lon}, k: 25) { member lat lon distanceMeters reportedAt } }`,
        );
        expect(a).toBe(b);
      }
      const [pos, posRef] = await both(p.base, ref(), `{ ${members.slice(0, 20).map((m, j) => `p${j}: geoPosition(index: "places", member: "${m}") { member lat lon reportedAt }`).join(' ')} }`);
      expect(pos).toBe(posRef);
    }
  }, 240_000);

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
        best.set(user, Math.max(lv, best.get(user) ?? 0));
        teamCount.set(teamOf(user), (teamCount.get(teamOf(user)) ?? 0) + 1);
        return { user, team: teamOf(user), level: lv, ...place(rnd), ts: t0 + from + i };
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

  it('serves the whole-set subscriptions (threshold crossings, leaderboard changes, fence events, members of a circle) and geoMoved through one member as one instance does', async () => {
    const t1 = running.get('t1')!.base;
    const map = (await formed(3)).map;
    const partitionOf = keyPartitioner();
    const walkers = Array.from({ length: 40 }, (_, i) => `walker-${i}`);
    const notT1 = walkers.find((w) => !map.members.find((m) => m.instanceId === 't1')!.active.includes(partitionOf(w, PARTITIONS)))!;
    type Crossing = { featureThreshold: { entity: string; value: number; direction: string; threshold: number } };
    type Top = { leaderboardChanged: { rank: number; member: string; score: number }[] };
    type Fence = { geofenceEvents: { fence: string; member: string; kind: string; lat: number; lon: number; at: string } };
    type Within = { geoWithin: { member: string; kind: string; lat: number; lon: number; gone: boolean } };
    type Moved = { geoMoved: { member: string; lat: number; lon: number; reportedAt: string } };
    const open = (url: string) => {
      const client = wsClient(url);
      return {
        client,
        crossings: collect<Crossing>(client, 'subscription { featureThreshold(name: "n", window: "lifetime", above: 2) { entity value direction threshold } }'),
        top: collect<Top>(client, 'subscription { leaderboardChanged(name: "levels", top: 5) { rank member score } }'),
        fences: collect<Fence>(client, 'subscription { geofenceEvents(index: "places") { fence member kind lat lon at } }'),
        within: collect<Within>(client, `subscription { geoWithin(index: "places", lat: ${CENTRE.lat}, lon: ${CENTRE.lon}, radiusMeters: ${CENTRE.radiusMeters}) { member kind lat lon gone } }`),
        moved: collect<Moved>(client, `subscription { geoMoved(index: "places", member: "${notT1}") { member lat lon reportedAt } }`),
      };
    };
    const cluster = open(t1);
    const single = open(ref());
    try {
      // Who is inside the circle, from the messages (enter/move inside, exit outside).
      const inside = (items: Within[]) => {
        const state = new Map<string, string>();
        for (const { geoWithin: e } of items) {
          if (e.kind === 'exit') state.delete(e.member);
          else state.set(e.member, `${e.lat},${e.lon}`);
        }
        return JSON.stringify([...state].sort(([a], [b]) => (a < b ? -1 : 1)));
      };
      // The members already inside come from every member's part: the union is the whole.
      await single.within.next(1);
      await single.top.next(1);
      await eventually('the circle\'s members now from every member of the cluster', async () => (inside(cluster.within.items) === inside(single.within.items) ? true : undefined));
      await eventually('the top rows now, gathered', async () => (cluster.top.items.length > 0 ? true : undefined));
      expect(cluster.top.items.at(-1)).toEqual(single.top.items.at(-1));
      await sleep(1_000);
      // Each walker: inside the fence and the circle, out, in again; its third event crosses the threshold, its level tops the board.
      const t0 = Date.now() - 20_000;
      const stops = [
        { lat: CENTRE.lat, lon: CENTRE.lon },
        { lat: 49.5, lon: 3 },
        { lat: CENTRE.lat + 0.001, lon: CENTRE.lon + 0.001 },
      ];
      const messages = stops.flatMap((at, step) =>
        walkers.map((user, i) => {
          count.set(user, (count.get(user) ?? 0) + 1);
          teamCount.set(teamOf(user), (teamCount.get(teamOf(user)) ?? 0) + 1);
          best.set(user, 1000 + i);
          return { key: user, value: JSON.stringify({ user, team: teamOf(user), level: 1000 + i, ...at, ts: t0 + step * 1000 + i }) };
        }),
      );
      await produce(brokers, topic, messages);
      const sortedFences = (items: Fence[]) => items.map((f) => JSON.stringify(f.geofenceEvents)).sort();
      const got = () =>
        JSON.stringify({ fences: [cluster.fences.items.length, single.fences.items.length], crossings: [cluster.crossings.items.length, single.crossings.items.length], errors: [cluster.fences.errors, cluster.crossings.errors] });
      await eventually('every fence event and crossing through the cluster', async () =>
        cluster.fences.items.length >= walkers.length * 3 && single.fences.items.length >= walkers.length * 3 && cluster.crossings.items.length >= walkers.length && single.crossings.items.length >= walkers.length ? true : undefined,
      ).catch((err: unknown) => {
        throw new Error(`${String(err)}; cluster, one instance: ${got()}`);
      });
      const expectedTop = await data<{ leaderboard: { rank: number; member: string; score: number }[] }>(ref(), '{ leaderboard(name: "levels", limit: 5) { rank member score } }');
      await eventually('the new top rows through the cluster', async () => (JSON.stringify(cluster.top.items.at(-1)?.leaderboardChanged) === JSON.stringify(expectedTop.leaderboard) ? true : undefined));
      await eventually('the circle\'s members after the walks', async () => (inside(cluster.within.items) === inside(single.within.items) && single.within.items.length > 0 ? true : undefined));
      await eventually(`${notT1}'s last position, followed from its owner`, async () => (cluster.moved.items.at(-1)?.geoMoved.lat === stops[2].lat ? true : undefined));
      await sleep(500); // nothing more should come
      // Fence events are not coalesced: the same events, once each.
      expect(sortedFences(cluster.fences.items)).toEqual(sortedFences(single.fences.items));
      expect(cluster.fences.items).toHaveLength(walkers.length * 3);
      // One crossing per walker, as one instance sends them.
      const sortedCrossings = (items: Crossing[]) => items.map((c) => JSON.stringify(c.featureThreshold)).sort();
      expect(sortedCrossings(cluster.crossings.items)).toEqual(sortedCrossings(single.crossings.items));
      expect(new Set(cluster.crossings.items.map((c) => c.featureThreshold.entity))).toEqual(new Set(walkers));
      expect(cluster.top.items.at(-1)).toEqual(single.top.items.at(-1));
      expect(inside(cluster.within.items)).toEqual(inside(single.within.items));
      expect(cluster.moved.items.at(-1)).toEqual(single.moved.items.at(-1));
      for (const s of [cluster, single]) for (const c of [s.crossings, s.top, s.fences, s.within, s.moved]) expect(c.errors).toEqual([]);
      // Entries per fence: counted from fence events, keyed by the fence, whole at its owner.
      for (const p of running.values()) {
        const entries = '{ feature(name: "fence_entries", entity: "centre", window: "lifetime") { value } }';
        await eventually(`${p.base} counting the fence's entries as one instance does`, async () => {
          const [a, b] = await both(p.base, ref(), entries);
          return a === b && (JSON.parse(a) as { feature: { value: number } }).feature.value >= walkers.length * 2 ? true : undefined;
        }).catch(async (err: unknown) => {
          throw new Error(`${String(err)}: ${JSON.stringify(await both(p.base, ref(), entries))} ${[...running.values()].map((m) => m.output().split('\n').filter((l) => /repartition|error/i.test(l)).slice(0, 5).join('\n')).join('\n')}`);
        });
      }
    } finally {
      for (const s of [cluster, single]) void s.client.dispose();
    }
  }, 120_000);

  it('answers similar (by vector, by entity, with where, with each hit\'s features) through each instance exactly as one instance does', async () => {
    const queries = [
      '{ similar(view: "profile", field: "taste", k: 25, vector: [1, 2]) { entity distance } }',
      '{ similar(view: "profile", field: "taste", k: 10, entity: "user-5") { entity distance features(names: ["n:lifetime", "profile:level"]) { values } } }',
      '{ similar(view: "profile", field: "taste", k: 15, vector: [3, 1], where: "level > 150") { entity distance features(names: ["n:lifetime"]) { values } } }',
      '{ similar(view: "profile", field: "taste", k: 5, entity: "nobody") { entity } }',
    ];
    for (const p of running.values()) {
      for (const q of queries) {
        const [a, b] = await both(p.base, ref(), q);
        expect(a).toBe(b);
      }
    }
    const answered = JSON.parse((await both(running.get('t2')!.base, ref(), queries[0]))[0]) as { similar: unknown[] };
    expect(answered.similar).toHaveLength(25);
    // Bad input is named as on one instance, not taken for an unavailable partition.
    const bad = await gql(running.get('t1')!.base, '{ similar(view: "profile", field: "level", k: 3, vector: [1, 0]) { entity } }');
    expect(bad.errors?.[0].message).toBe((await gql(ref(), '{ similar(view: "profile", field: "level", k: 3, vector: [1, 0]) { entity } }')).errors?.[0].message);
  });

  it('refuses the peer bus without the secret, and a receiver says NOT_OWNER for a key it does not hold', async () => {
    const p = running.get('t1')!;
    const busUrl = `${p.base.replace(/^http/, 'ws')}/cluster/bus`;
    // Without the secret (or with another) the upgrade is refused with 403.
    const refused = await new Promise<number>((resolve, reject) => {
      const ws = new WebSocket(busUrl, { headers: { 'x-tally-cluster-secret': 'not-the-secret' } });
      ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.once('open', () => reject(new Error('the bus opened with a wrong secret')));
      ws.once('error', () => undefined);
    });
    expect(refused).toBe(403);
    const bus = new WebSocket(busUrl, { headers: { 'x-tally-cluster-secret': SECRET } });
    await new Promise((resolve, reject) => bus.once('open', resolve).once('error', reject));
    let nextId = 1;
    const ask = (q: unknown) =>
      new Promise<{ id: number; ok: boolean; value?: { value: number }; message?: string; extensions?: { code: string; partition?: number } }>((resolve) => {
        const id = nextId++;
        const onMessage = (data: WebSocket.RawData) => {
          const reply = JSON.parse(String(data)) as { id: number; ok: boolean };
          if (reply.id !== id) return;
          bus.off('message', onMessage);
          resolve(reply);
        };
        bus.on('message', onMessage);
        bus.send(JSON.stringify({ id, op: 'lookup', q }));
      });
    try {
      const malformed = await ask({ kind: 'rows', entities: 'user-1' });
      expect(malformed).toMatchObject({ ok: false, extensions: { code: 'BAD_USER_INPUT' } });
      expect(malformed.message).toContain('rows needs entities and features');
      const own = (await clusterOf(p.base)).members.find((m) => m.self)!.active;
      const partitionOf = keyPartitioner();
      // A forwarded lookup is never forwarded again: t1 answers the users of its partitions and refuses the others.
      let notMine: string | undefined;
      let mine: string | undefined;
      for (const u of users) {
        const reply = await ask({ kind: 'feature', name: 'n', entity: u, window: 'lifetime' });
        if (reply.ok) {
          expect(own).toContain(partitionOf(u, PARTITIONS));
          expect(reply.value!.value).toBe(count.get(u) ?? 0);
          mine ??= u;
        } else {
          expect(reply.extensions!.code).toBe('NOT_OWNER');
          expect(own).not.toContain(reply.extensions!.partition);
          notMine ??= u;
        }
        if (mine !== undefined && notMine !== undefined) break;
      }
      expect(notMine).toBeDefined();
      expect(mine).toBeDefined();
    } finally {
      bus.close();
    }
  });

  it('loses nothing and counts nothing twice when a member is killed (-9) while producing, and never shows a wrong answer meanwhile', async () => {
    const before = (await formed(3)).map;
    // A subscription held on t1 for a user t3 owns (followed from t3, then from its next owner).
    const partitionOf = keyPartitioner();
    const t3Partitions = before.members.find((m) => m.instanceId === 't3')!.active;
    const watched = users.find((u) => t3Partitions.includes(partitionOf(u, PARTITIONS)))!;
    const client = wsClient(running.get('t1')!.base);
    const pushed: { value: number; at: number }[] = [];
    const subscriptionErrors: unknown[] = [];
    const unsubscribe = client.subscribe<{ featureUpdated: { value: number } }>(
      { query: 'subscription($u: String!) { featureUpdated(name: "n", entity: $u, window: "lifetime") { value } }', variables: { u: watched } },
      { next: (r) => (r.errors ? subscriptionErrors.push(r.errors) : pushed.push({ value: r.data!.featureUpdated.value, at: Date.now() })), error: (e) => subscriptionErrors.push(e), complete: () => undefined },
    );
    // And the gathered top rows on t1: sent only when exact, so never one with a member's score beyond what was produced.
    const boardClient = wsClient(running.get('t1')!.base);
    const board = collect<{ leaderboardChanged: { rank: number; member: string; score: number; updatedAt: string }[] }>(boardClient, 'subscription { leaderboardChanged(name: "levels", top: 60) { rank member score updatedAt } }');
    // And the fence events of the whole index, merged from every member's part, through the kill.
    const fences = collect<{ geofenceEvents: { member: string; kind: string } }>(boardClient, 'subscription { geofenceEvents(index: "places") { member kind } }');
    await sleep(500);
    const loadedBeforeKill = (await loaded(running.get('t1')!.base)) + (await loaded(running.get('t2')!.base));
    const writer = new KafkaEventWriter([brokers], 'cluster-e2e-writer', { idempotent: true });
    const sample = users.filter((_, i) => i % 5 === 0);
    // Per user: events produced or in flight (an answer may not exceed it), and the highest count seen (it may not go down).
    const produced = new Map(count);
    const seen = new Map<string, number>();
    // The same for the leaderboard: a member's score may not exceed the best level produced, nor go down.
    const bestProduced = new Map(best);
    const seenScore = new Map<string, number>();
    const outcomes = { exact: 0, unavailable: 0, wrong: [] as string[] };
    let producing = true;
    const poll = async () => {
      const q = `{ onlineFeatures(entities: ${JSON.stringify(sample)}, features: ["n:lifetime"]) { entity values } }`;
      while (producing) {
        const r = await gql<{ onlineFeatures: { entity: string; values: number[] }[] }>(running.get('t1')!.base, q).catch((err: unknown) => ({ errors: [{ message: String(err), extensions: {} }] }) as Awaited<ReturnType<typeof gql>>);
        if (r.errors?.length) {
          if (r.errors.every((e) => e.extensions?.code === 'PARTITIONS_UNAVAILABLE' && Array.isArray(e.extensions.partitions))) outcomes.unavailable++;
          else outcomes.wrong.push(`error without partitions: ${JSON.stringify(r.errors)}`);
        } else {
          for (const row of (r.data as { onlineFeatures: { entity: string; values: number[] }[] }).onlineFeatures) {
            const v = row.values[0];
            if (v > (produced.get(row.entity) ?? 0) || v < (seen.get(row.entity) ?? 0)) outcomes.wrong.push(`${row.entity}: ${v} (produced ${produced.get(row.entity) ?? 0}, seen ${seen.get(row.entity) ?? 0})`);
            seen.set(row.entity, Math.max(v, seen.get(row.entity) ?? 0));
          }
          outcomes.exact++;
        }
        const lb = await gql<{ leaderboard: { member: string; score: number }[] }>(running.get('t2')!.base, '{ leaderboard(name: "levels", limit: 20) { member score } }').catch((err: unknown) => ({ errors: [{ message: String(err), extensions: {} }] }) as Awaited<ReturnType<typeof gql>>);
        if (lb.errors?.length) {
          if (lb.errors.every((e) => e.extensions?.code === 'PARTITIONS_UNAVAILABLE' && Array.isArray(e.extensions.partitions))) outcomes.unavailable++;
          else outcomes.wrong.push(`leaderboard error without partitions: ${JSON.stringify(lb.errors)}`);
        } else {
          const rows = (lb.data as { leaderboard: { member: string; score: number }[] }).leaderboard;
          if (rows.length !== 20) outcomes.wrong.push(`leaderboard of ${rows.length} rows`);
          for (const row of rows) {
            if (row.score > (bestProduced.get(row.member) ?? -1) || row.score < (seenScore.get(row.member) ?? -1)) outcomes.wrong.push(`leaderboard ${row.member}: ${row.score} (best produced ${bestProduced.get(row.member)}, seen ${seenScore.get(row.member)})`);
            seenScore.set(row.member, Math.max(row.score, seenScore.get(row.member) ?? -1));
          }
          outcomes.exact++;
        }
        await sleep(50);
      }
    };
    const polling = poll();
    const rnd = mulberry32(99);
    const t0 = Date.now() - 10_000;
    let killedAt: number | undefined;
    try {
      for (let b = 0; b < 40; b++) {
        const batch = Array.from({ length: 100 }, (_, i) => {
          // One event per batch for the watched user, the rest random.
          const user = i === 0 ? watched : users[Math.floor(rnd() * USERS)];
          const lv = Math.floor(rnd() * 200);
          produced.set(user, (produced.get(user) ?? 0) + 1);
          bestProduced.set(user, Math.max(lv, bestProduced.get(user) ?? 0));
          return { user, team: teamOf(user), level: lv, ...place(rnd), ts: t0 + b * 100 + i };
        });
        await writer.send(topic, batch.map((e) => ({ key: e.user, value: e })));
        for (const e of batch) {
          count.set(e.user, (count.get(e.user) ?? 0) + 1);
          teamCount.set(e.team, (teamCount.get(e.team) ?? 0) + 1);
          level.set(e.user, e.level);
          best.set(e.user, Math.max(e.level, best.get(e.user) ?? 0));
        }
        if (b === 8) {
          process.kill(running.get('t3')!.pid, 'SIGKILL');
          killedAt = Date.now();
          running.delete('t3');
        }
        await sleep(250);
      }
      // Survivors take t3's partitions after the session timeout, restore them, and answer every key exactly.
      const after = (await formed(2)).map;
      expect(after.members.map((m) => m.instanceId)).toEqual(['t1', 't2']);
      for (const p of running.values()) {
        await eventually(`${p.base} answering every key as the model does after the kill`, async () => {
          const rows = await data<{ onlineFeatures: { entity: string; values: number[] }[] }>(p.base, `{ onlineFeatures(entities: ${JSON.stringify(users)}, features: ["n:lifetime"]) { entity values } }`);
          return rows.onlineFeatures.every((r) => r.values[0] === (count.get(r.entity) ?? 0)) ? true : undefined;
        }, 90_000);
      }
      // The subscription kept delivering: values pushed after the kill, up to the final count.
      await eventually(`the subscription on t1 for ${watched} delivering its final count`, async () => (pushed.at(-1)?.value === count.get(watched) ? true : undefined), 60_000).catch((err: Error) => {
        throw new Error(`${err.message}: expected ${count.get(watched)}, pushed ${JSON.stringify(pushed.map((p) => p.value))}, errors ${JSON.stringify(subscriptionErrors)}`);
      });
    } finally {
      producing = false;
      await polling;
      await writer.close();
      unsubscribe();
      await client.dispose();
    }
    expect(subscriptionErrors).toEqual([]);
    expect(pushed.filter((p) => p.at > killedAt! + 1_000).length).toBeGreaterThan(0);
    // Each push is a count the user had at some point: never above the final count, never going down.
    for (let i = 1; i < pushed.length; i++) expect(pushed[i].value).toBeGreaterThanOrEqual(pushed[i - 1].value);
    expect(killedAt).toBeDefined();
    // The survivors took t3's partitions from the states it wrote every second, not by replay from the start.
    expect((await loaded(running.get('t1')!.base)) + (await loaded(running.get('t2')!.base)) - loadedBeforeKill).toBe(t3Partitions.length);
    expect(outcomes.wrong).toEqual([]);
    // The client was answered throughout: exactly, or with an error naming partitions.
    expect(outcomes.exact).toBeGreaterThan(10);
    expect(outcomes.exact + outcomes.unavailable).toBeGreaterThan(40);
    // 0 counted twice: a while later, every count is still exactly the number produced.
    await sleep(1_000);
    const total = await data<{ onlineFeatures: { entity: string; values: number[] }[] }>(running.get('t2')!.base, `{ onlineFeatures(entities: ${JSON.stringify(users)}, features: ["n:lifetime"]) { entity values } }`);
    expect(total.onlineFeatures.map((r) => r.values[0])).toEqual(users.map((u) => count.get(u) ?? 0));
    // The repartitioned stores too: every team's count exact, none lost or counted twice through the kill.
    const teams = [...teamCount.keys()].sort();
    const teamRows = await data<{ onlineFeatures: { entity: string; values: number[] }[] }>(running.get('t1')!.base, `{ onlineFeatures(entities: ${JSON.stringify(teams)}, features: ["team_n:lifetime"]) { entity values } }`);
    expect(teamRows.onlineFeatures.map((r) => r.values[0])).toEqual(teams.map((t) => teamCount.get(t)));
    // Whole-set answers are exact again too (the reference has applied the same events).
    await eventually('the leaderboard through t1 equal to the reference', async () => {
      const [a, b] = await both(running.get('t1')!.base, ref(), '{ leaderboard(name: "levels", offset: 10, limit: 100) { rank member score updatedAt } }');
      return a === b ? true : undefined;
    });
    // The leaderboardChanged subscription on t1 went on through the kill, to the reference's rows.
    const top60 = await data<{ leaderboard: unknown[] }>(ref(), '{ leaderboard(name: "levels", limit: 60) { rank member score updatedAt } }');
    await eventually('leaderboardChanged on t1 sending the final top rows', async () => (JSON.stringify(board.items.at(-1)?.leaderboardChanged) === JSON.stringify(top60.leaderboard) ? true : undefined));
    // Members owned by the killed member's partitions now (their new owners) enter the fence: each enter comes once.
    const t3Gone = users.filter((u) => t3Partitions.includes(partitionOf(u, PARTITIONS))).slice(0, 10);
    const far = { lat: 49.5, lon: 3 };
    const entering = [...t3Gone.map((user, i) => ({ user, team: teamOf(user), level: 1, ...far, ts: Date.now() - 2_000 + i })), ...t3Gone.map((user, i) => ({ user, team: teamOf(user), level: 1, lat: CENTRE.lat, lon: CENTRE.lon, ts: Date.now() - 1_000 + i }))];
    for (const e of entering) count.set(e.user, (count.get(e.user) ?? 0) + 1);
    for (const e of entering) teamCount.set(e.team, (teamCount.get(e.team) ?? 0) + 1);
    const fencesBefore = fences.items.length;
    await produce(brokers, topic, entering.map((e) => ({ key: e.user, value: JSON.stringify(e) })));
    const entered = () => fences.items.slice(fencesBefore).filter((f) => f.geofenceEvents.kind === 'enter' && t3Gone.includes(f.geofenceEvents.member));
    await eventually('the fence entries of the killed member\'s keys through t1', async () => (new Set(entered().map((f) => f.geofenceEvents.member)).size === t3Gone.length ? true : undefined));
    await sleep(500);
    expect(entered().map((f) => f.geofenceEvents.member).sort()).toEqual([...t3Gone].sort());
    expect(fences.errors).toEqual([]);
    await boardClient.dispose();
    expect(board.errors).toEqual([]);
    for (const { leaderboardChanged: rows } of board.items) {
      for (const r of rows) expect(r.score).toBeLessThanOrEqual(best.get(r.member)!);
    }
    // Restarted under the same id, t3 gets its partitions back (sticky), rebuilds them, and answers exactly.
    await start('t3');
    await ready(running.get('t3')!.base, 60_000);
    const back = (await formed(3)).map;
    expect(back.members.map((m) => ({ id: m.instanceId, active: m.active }))).toEqual(before.members.map((m) => ({ id: m.instanceId, active: m.active })));
    await eventually('t3 answering every key and the leaderboard exactly', async () => {
      const rows = await data<{ onlineFeatures: { entity: string; values: number[] }[] }>(running.get('t3')!.base, `{ onlineFeatures(entities: ${JSON.stringify(users)}, features: ["n:lifetime"]) { entity values } }`);
      if (!rows.onlineFeatures.every((r) => r.values[0] === (count.get(r.entity) ?? 0))) return undefined;
      const [a, b] = await both(running.get('t3')!.base, ref(), '{ leaderboard(name: "levels", offset: 0, limit: 100) { rank member score updatedAt } }');
      return a === b ? true : undefined;
    }, 90_000);
  }, 300_000);

  it('hands a gracefully stopped member\'s partitions over without replay (state topic), and gives them back to it sticky, again without replay', async () => {
    const before = (await formed(3)).map;
    const t2 = running.get('t2')!;
    const loadedBefore = (await loaded(running.get('t1')!.base)) + (await loaded(running.get('t3')!.base));
    const appliedBefore = (await applied(running.get('t1')!.base)) + (await applied(running.get('t3')!.base));
    await stopTallyProcess(t2, 'SIGTERM');
    running.delete('t2');
    expect(t2.output()).toContain('handed over through the state topic');
    const without = (await formed(2)).map;
    expect(without.members.map((m) => m.instanceId)).toEqual(['t1', 't3']);
    for (const p of running.values()) {
      await eventually(`${p.base} answering every key as the model does without t2`, async () => {
        const rows = await data<{ onlineFeatures: { entity: string; values: (number | null)[] }[] }>(p.base, `{ onlineFeatures(entities: ${JSON.stringify(users)}, features: ["n:lifetime"]) { entity values } }`);
        return rows.onlineFeatures.every((r) => r.values[0] === (count.get(r.entity) ?? 0)) ? true : undefined;
      });
    }
    // t2's four partitions were loaded from its handed-over state: the survivors applied no event again.
    expect((await loaded(running.get('t1')!.base)) + (await loaded(running.get('t3')!.base)) - loadedBefore).toBe(before.members.find((m) => m.instanceId === 't2')!.active.length);
    expect((await applied(running.get('t1')!.base)) + (await applied(running.get('t3')!.base))).toBe(appliedBefore);
    // Leaderboards gathered across the two are exact too.
    const [a, b] = await both(running.get('t1')!.base, ref(), '{ leaderboard(name: "levels", offset: 5, limit: 100) { rank member score updatedAt } }');
    expect(a).toBe(b);
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
    // Its partitions came from the state topic too (the newest state of each: its own, as nobody changed them since).
    const t2Loaded = await loaded(running.get('t2')!.base);
    if (t2Loaded !== after.members.find((m) => m.instanceId === 't2')!.active.length) throw new Error(`t2 loaded ${t2Loaded} partitions from the state topic; its log:\n${running.get('t2')!.output().split('\n').filter((l) => /cluster|state|partition/.test(l)).join('\n')}`);
    expect(await applied(running.get('t2')!.base)).toBe(0);
  }, 180_000);
});
