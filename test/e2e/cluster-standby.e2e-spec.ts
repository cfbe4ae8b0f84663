// Standby replicas: three members with TALLY_STANDBY_REPLICAS=1 on a 12-partition topic keep a
// warm copy of each partition on another member (one member's partitions spread over the
// others). Killing a member (-9) hands each of its partitions to the member keeping its copy,
// which promotes the copy and reads on from its offsets: the survivors apply no event again,
// and every key is exact once the new map is in place. State-topic writes are off here, so
// nothing but the copies can spare the replay.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clusterOf, data, eventually, metric, type Report } from '../support/cluster.js';
import { createTopics, produce, requireKafka, uniqueName } from '../support/kafka.js';
import { mulberry32 } from '../support/random.js';
import { freePort, ready, sleep, startTallyProcess, type TallyProcess } from '../support/tally-process.js';

const PARTITIONS = 12;
const USERS = 300;
const EVENTS = 6_000;

describe('cluster with standby replicas (three processes, one broker)', () => {
  const brokers = requireKafka();
  const topic = uniqueName('standby-events');
  const group = uniqueName('standby-group');
  const dir = mkdtempSync(join(tmpdir(), 'tally-standby-'));
  const pipeline = join(dir, 'pipeline.yaml');
  const running = new Map<string, TallyProcess & { base: string }>();
  const count = new Map<string, number>();
  const teamCount = new Map<string, number>();
  const users = Array.from({ length: USERS }, (_, i) => `user-${i}`);
  const counter = async (url: string, name: string) => metric(await (await fetch(`${url}/metrics`)).text(), name);
  const exactThrough = async (url: string) => {
    const rows = await data<{ onlineFeatures: { entity: string; values: number[] }[] }>(url, `{ onlineFeatures(entities: ${JSON.stringify(users)}, features: ["n:lifetime"]) { entity values } }`);
    const teams = [...teamCount.keys()];
    const teamRows = await data<{ onlineFeatures: { entity: string; values: number[] }[] }>(url, `{ onlineFeatures(entities: ${JSON.stringify(teams)}, features: ["team_n:lifetime"]) { entity values } }`);
    return rows.onlineFeatures.every((r) => r.values[0] === (count.get(r.entity) ?? 0)) && teamRows.onlineFeatures.every((r) => r.values[0] === teamCount.get(r.entity)) ? true : undefined;
  };
  const formed = (n: number) =>
    eventually(`a map of ${n} members shown by every member`, async () => {
      const reports = await Promise.all([...running.values()].map((p) => clusterOf(p.base)));
      const first = JSON.stringify(reports[0].members.map((m) => [m.instanceId, m.active, m.standby]));
      if (reports[0].members.length !== n || reports.some((r) => JSON.stringify(r.members.map((m) => [m.instanceId, m.active, m.standby])) !== first)) return undefined;
      return reports[0];
    });

  beforeAll(async () => {
    writeFileSync(
      pipeline,
      [
        'sources:',
        `  - { name: events, topic: ${topic}, timestamp: ts, key: user }`,
        'features:',
        '  - { name: n, source: events, entity: user, aggregation: count, windows: [lifetime] }',
        // Keyed by a field, not the message key: repartitioned, and kept warm by the standbys too.
        '  - { name: team_n, source: events, entity: team, aggregation: count, windows: [lifetime] }',
      ].join('\n'),
    );
    await createTopics(brokers, [{ topic, numPartitions: PARTITIONS }]);
    const rnd = mulberry32(7);
    const t0 = Date.now() - 60_000;
    await produce(
      brokers,
      topic,
      Array.from({ length: EVENTS }, (_, i) => {
        const user = users[Math.floor(rnd() * USERS)];
        count.set(user, (count.get(user) ?? 0) + 1);
        const team = `team-${i % 23}`;
        teamCount.set(team, (teamCount.get(team) ?? 0) + 1);
        return { key: user, value: JSON.stringify({ user, team, ts: t0 + i }) };
      }),
    );
    await Promise.all(
      ['s1', 's2', 's3'].map(async (id) => {
        const port = await freePort();
        const base = `http://127.0.0.1:${port}`;
        const p = await startTallyProcess({
          PORT: String(port),
          KAFKA_BROKERS: brokers,
          KAFKA_GROUP_ID: group,
          TALLY_PIPELINE: pipeline,
          TALLY_INSTANCE_ID: id,
          TALLY_ADVERTISED_URL: base,
          TALLY_CLUSTER_SECRET: 'standby-secret-for-tests',
          TALLY_STANDBY_REPLICAS: '1',
          TALLY_STATE_INTERVAL: '0',
          KAFKA_SESSION_TIMEOUT_MS: '6000',
        });
        running.set(id, { ...p, base });
      }),
    );
    await Promise.all([...running.values()].map((p) => ready(p.base, 60_000)));
  }, 120_000);

  afterAll(() => {
    for (const p of running.values()) if (p.child.exitCode === null && p.child.signalCode === null) process.kill(p.pid, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps each partition warm on another member, and takes a killed member\'s partitions over from the copies without replay', async () => {
    const map: Report = await formed(3);
    // Every partition has one standby, never its owner; one member's partitions are spread over both others.
    const standbyOf = new Map<number, string>();
    for (const m of map.members) for (const p of m.standby ?? []) standbyOf.set(p, m.instanceId);
    expect([...standbyOf.keys()].sort((a, b) => a - b)).toEqual(Array.from({ length: PARTITIONS }, (_, p) => p));
    for (const m of map.members) {
      expect(m.active.filter((p) => standbyOf.get(p) === m.instanceId)).toEqual([]);
      expect(new Set(m.active.map((p) => standbyOf.get(p))).size).toBe(2);
    }
    for (const p of running.values()) await eventually(`${p.base} answering every key`, () => exactThrough(p.base));
    // The copies replay the topic in the background: give them a moment to reach its end.
    await sleep(3_000);
    const victim = map.members.find((m) => m.instanceId === 's3')!;
    const survivors = ['s1', 's2'].map((id) => running.get(id)!);
    const appliedBefore = (await counter(survivors[0].base, 'tally_events_accepted_total')) + (await counter(survivors[1].base, 'tally_events_accepted_total'));
    process.kill(running.get('s3')!.pid, 'SIGKILL');
    running.delete('s3');
    const after = await formed(2);
    // Each of the victim's partitions went to the member keeping its copy, and was promoted.
    for (const p of victim.active) expect(after.members.find((m) => m.active.includes(p))!.instanceId).toBe(standbyOf.get(p));
    for (const p of survivors) await eventually(`${p.base} answering every key after the kill`, () => exactThrough(p.base), 30_000);
    const promoted = (await counter(survivors[0].base, 'tally_cluster_standby_promoted_total')) + (await counter(survivors[1].base, 'tally_cluster_standby_promoted_total'));
    expect(promoted).toBe(victim.active.length);
    // No replay: the survivors' stores applied no event again (the copies applied them, apart).
    expect((await counter(survivors[0].base, 'tally_events_accepted_total')) + (await counter(survivors[1].base, 'tally_events_accepted_total'))).toBe(appliedBefore);
    expect(await counter(survivors[0].base, 'tally_cluster_handover_loaded_total')).toBe(0);
  }, 180_000);
});
