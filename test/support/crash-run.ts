// The crash run: Tally as a child process with a data directory, consuming a known event
// stream from a real broker while a producer writes it, killed with SIGKILL (by its process
// id) again and again — half of the kills while a snapshot file is being written — and
// restarted each time. At the end its stores are compared with a model computed from every
// message the topics hold (lost, double-counted) and, digest against digest, with a second
// Tally that read the same topics once without a crash.
//
// Used by test/e2e/crash.e2e-spec.ts (a few kills, in `npm test`) and scripts/crash-test.ts
// (`npm run crash-test -- --kills 20`).
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel, Partitioners, type Producer } from 'kafkajs';
import { createTopics, consumeAll, uniqueName } from './kafka.js';
import { mulberry32 } from './random.js';
import { health, ready, sleep, startTallyProcess, stopTallyProcess, type TallyProcess } from './tally-process.js';

export interface CrashRunOptions {
  brokers: string;
  /** SIGKILLs (at least 2: one random, one during a snapshot write). */
  kills: number;
  /** Transaction events to produce (driver positions: a quarter as many more). */
  events?: number;
  /** Events per second the producer writes. */
  rate?: number;
  seed?: number;
  log?: (line: string) => void;
}

export interface KillRecord {
  /** 'snapshot-write': a snapshot temp file existed when the signal was sent; else 'random'. */
  moment: 'snapshot-write' | 'random';
  /** What /health said just before the kill. */
  state: string;
  /** Milliseconds the process had lived. */
  livedMs: number;
}

export interface CrashRunResult {
  kills: KillRecord[];
  killsDuringSnapshotWrite: number;
  /** Messages in the topics (duplicates a producer retry may have written included). */
  messages: { tx: number; pos: number; refused: number };
  cards: number;
  /** Events of the model missing from Tally's counts. */
  lost: number;
  /** Events Tally counts more than once. */
  doubleCounted: number;
  /** Cards whose sum, distinct merchants or leaderboard score differ from the model. */
  mismatches: string[];
  digest: { crashed: string; reference: string; differing: string[] };
  snapshotsWritten: number;
  durationMs: number;
}

const CARDS = 300;
const MERCHANTS = 25;
const DRIVERS = 40;
/** The fence drivers cross: 2 km around JFK. */
const ZONE = { lat: 40.6413, lon: -73.7781 };

function pipelineYaml(tx: string, pos: string): string {
  return `
sources:
  - { name: tx, topic: ${tx}, timestamp: ts, lateness: 1h }
  - { name: pos, topic: ${pos}, timestamp: ts, lateness: 1h }
features:
  - { name: txn_count, source: tx, entity: card, aggregation: count, windows: [1h, lifetime] }
  - { name: txn_sum, source: tx, entity: card, aggregation: sum, field: amount, windows: [lifetime] }
  - { name: merchants, source: tx, entity: card, aggregation: distinct, field: merchant, windows: [lifetime] }
  - { name: amount_p90, source: tx, entity: card, aggregation: quantile, field: amount, quantile: 0.9, windows: [lifetime] }
  - { name: zone_entries, source: drivers.fences, entity: fence, aggregation: count, windows: [lifetime] }
views:
  - { name: card_last, source: tx, entity: card, fields: { amount: float, merchant: string } }
leaderboards:
  - { name: top_cards, source: tx, member: card, score: amount, mode: incr, period: all }
geo:
  - name: drivers
    source: pos
    member: driver
    lat: lat
    lon: lon
    fences:
      - { name: zone, circle: { lat: ${ZONE.lat}, lon: ${ZONE.lon}, radiusMeters: 2000 } }
`;
}

interface Message {
  topic: string;
  key: string;
  value: string;
}

/** The event stream: transactions (2 % malformed) and driver positions, in event-time order. */
function stream(seed: number, events: number, tx: string, pos: string, t0: number): Message[] {
  const rand = mulberry32(seed);
  const out: Message[] = [];
  const drivers = Array.from({ length: DRIVERS }, () => ({ lat: ZONE.lat + (rand() - 0.5) * 0.08, lon: ZONE.lon + (rand() - 0.5) * 0.08 }));
  for (let i = 0; i < events; i++) {
    const ts = t0 + i * 10;
    const card = `card-${Math.floor(rand() * CARDS)}`;
    const r = rand();
    const value =
      r < 0.01
        ? `{"card": "${card}", "amount": ` // not JSON
        : r < 0.02
          ? JSON.stringify({ card, merchant: 'm-x', ts }) // no amount
          : JSON.stringify({ card, amount: 1 + Math.floor(rand() * 1000), merchant: `m-${Math.floor(rand() * MERCHANTS)}`, ts });
    out.push({ topic: tx, key: card, value });
    if (i % 4 === 0) {
      const d = Math.floor(rand() * DRIVERS);
      const p = drivers[d];
      p.lat += (rand() - 0.5) * 0.02;
      p.lon += (rand() - 0.5) * 0.02;
      out.push({ topic: pos, key: `driver-${d}`, value: JSON.stringify({ driver: `driver-${d}`, lat: p.lat, lon: p.lon, ts }) });
    }
  }
  return out;
}

async function produceSteadily(producer: Producer, messages: Message[], rate: number, stop: { stopped: boolean }): Promise<void> {
  const batch = Math.max(1, Math.round(rate / 20));
  const started = Date.now();
  for (let i = 0; i < messages.length && !stop.stopped; i += batch) {
    const slice = messages.slice(i, i + batch);
    const byTopic = new Map<string, { key: string; value: string }[]>();
    for (const m of slice) (byTopic.get(m.topic) ?? byTopic.set(m.topic, []).get(m.topic)!).push({ key: m.key, value: m.value });
    await producer.sendBatch({ acks: -1, topicMessages: [...byTopic].map(([topic, msgs]) => ({ topic, messages: msgs })) });
    const due = started + ((i + batch) / rate) * 1000;
    if (due > Date.now()) await sleep(due - Date.now());
  }
}

interface Model {
  count: Map<string, number>;
  sum: Map<string, number>;
  merchants: Map<string, Set<string>>;
  refused: number;
}

function model(values: (string | null)[]): Model {
  const m: Model = { count: new Map(), sum: new Map(), merchants: new Map(), refused: 0 };
  for (const v of values) {
    let e: { card?: string; amount?: number; merchant?: string };
    try {
      e = JSON.parse(v ?? '') as typeof e;
    } catch {
      m.refused++;
      continue;
    }
    if (typeof e.amount !== 'number' || typeof e.card !== 'string') {
      m.refused++;
      continue;
    }
    m.count.set(e.card, (m.count.get(e.card) ?? 0) + 1);
    m.sum.set(e.card, (m.sum.get(e.card) ?? 0) + e.amount);
    (m.merchants.get(e.card) ?? m.merchants.set(e.card, new Set()).get(e.card)!).add(e.merchant!);
  }
  return m;
}

async function gql<T>(url: string, query: string): Promise<T> {
  const res = await fetch(`${url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query }) });
  const body = (await res.json()) as { data?: T; errors?: unknown[] };
  if (body.errors?.length) throw new Error(`GraphQL errors: ${JSON.stringify(body.errors)}`);
  return body.data!;
}

interface DigestAnswer {
  digest: { digest: string; watermarks: string; stores: { kind: string; name: string; entries: number; digest: string }[] };
}

const digestQuery = (at: number) => `{ digest(at: "${new Date(at).toISOString()}") { digest watermarks stores { kind name entries digest } } }`;

/** Every message of `topic`, read back from the broker (what the model is computed from). */
async function readTopic(brokers: string, topic: string): Promise<(string | null)[]> {
  const kafka = new Kafka({ clientId: 'crash-run-admin', brokers: brokers.split(','), logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  const offsets = await admin.fetchTopicOffsets(topic);
  await admin.disconnect();
  const total = offsets.reduce((n, o) => n + Number(o.high) - Number(o.low), 0);
  return (await consumeAll(brokers, topic, { expected: total, timeoutMs: 120_000 })).map((m) => m.value);
}

export async function crashRun(o: CrashRunOptions): Promise<CrashRunResult> {
  const started = Date.now();
  const log = o.log ?? (() => undefined);
  const seed = o.seed ?? 20261126;
  const rand = mulberry32(seed ^ 0x5eed);
  const events = o.events ?? 20_000;
  const rate = o.rate ?? 400;
  const tx = uniqueName('crash-tx');
  const pos = uniqueName('crash-pos');
  await createTopics(o.brokers, [
    { topic: tx, numPartitions: 3 },
    { topic: pos, numPartitions: 2 },
  ]);
  const work = mkdtempSync(join(tmpdir(), 'tally-crash-'));
  const dataDir = join(work, 'data');
  const pipelinePath = join(work, 'pipeline.yaml');
  writeFileSync(pipelinePath, pipelineYaml(tx, pos));
  const env = {
    KAFKA_BROKERS: o.brokers,
    KAFKA_GROUP_ID: uniqueName('crash-group'),
    KAFKA_SESSION_TIMEOUT_MS: '6000',
    TALLY_PIPELINE: pipelinePath,
    TALLY_DATA_DIR: dataDir,
    TALLY_SNAPSHOT_INTERVAL: '1s',
    // Test hook: each chunk of a snapshot takes 15 ms more, so writes are long enough to be hit.
    TALLY_SNAPSHOT_WRITE_DELAY_MS: '15',
    TALLY_SNAPSHOT_KEEP: '2',
  };
  const t0 = Date.now() - 3_600_000 / 2;
  const messages = stream(seed, events, tx, pos, t0);
  const kafka = new Kafka({ clientId: 'crash-run-producer', brokers: o.brokers.split(','), logLevel: logLevel.NOTHING });
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: false });
  await producer.connect();
  const stop = { stopped: false };
  const producing = produceSteadily(producer, messages, rate, stop);
  const kills: KillRecord[] = [];
  const children: TallyProcess[] = [];
  let snapshotsWritten = 0;
  const snapshotsDir = join(dataDir, 'snapshots');
  const tmpExists = () => existsSync(snapshotsDir) && readdirSync(snapshotsDir).some((f) => f.endsWith('.tmp'));
  try {
    for (let k = 0; k < o.kills; k++) {
      const p = await startTallyProcess(env);
      children.push(p);
      const born = Date.now();
      const moment: KillRecord['moment'] = k % 2 === 0 ? 'snapshot-write' : 'random';
      if (moment === 'snapshot-write') {
        // Wait for a snapshot to be in the middle of being written (up to 20 s).
        const until = Date.now() + 20_000;
        while (!tmpExists() && Date.now() < until) await sleep(2);
      } else await sleep(300 + rand() * 4_000);
      const state = await health(p.url).then((h) => h.restore?.state ?? h.status, () => 'not answering');
      const duringWrite = tmpExists();
      process.kill(p.pid, 'SIGKILL');
      await p.exited;
      snapshotsWritten += (p.output().match(/"msg":"snapshot written"/g) ?? []).length;
      kills.push({ moment: duringWrite ? 'snapshot-write' : 'random', state, livedMs: Date.now() - born });
      log(`kill ${k + 1}/${o.kills}: pid ${p.pid} after ${Date.now() - born} ms, ${duringWrite ? 'during a snapshot write' : 'at a random moment'} (${state})`);
    }
    await producing;
    log('producer done; restarting for the final check');
    const final = await startTallyProcess(env);
    children.push(final);
    await ready(final.url, 180_000);
    // Everything the topics hold, read back, is the model's input.
    const [txValues, posValues] = await Promise.all([readTopic(o.brokers, tx), readTopic(o.brokers, pos)]);
    const m = model(txValues);
    const cards = [...m.count.keys()].sort();
    const rows = await gql<{ onlineFeatures: { entity: string; values: (number | null)[] }[] }>(
      final.url,
      `{ onlineFeatures(entities: ${JSON.stringify(cards)}, features: ["txn_count:lifetime", "txn_sum:lifetime", "merchants:lifetime"]) { entity values } }`,
    );
    const board = await gql<{ leaderboard: { member: string; score: number }[] }>(final.url, `{ leaderboard(name: "top_cards", limit: ${CARDS + 10}) { member score } }`);
    const scores = new Map(board.leaderboard.map((r) => [r.member, r.score]));
    let lost = 0;
    let doubleCounted = 0;
    const mismatches: string[] = [];
    for (const row of rows.onlineFeatures) {
      const want = m.count.get(row.entity)!;
      const got = row.values[0] ?? 0;
      if (got < want) lost += want - got;
      if (got > want) doubleCounted += got - want;
      if (row.values[1] !== m.sum.get(row.entity)) mismatches.push(`${row.entity} sum ${row.values[1]} != ${m.sum.get(row.entity)}`);
      if (row.values[2] !== m.merchants.get(row.entity)!.size) mismatches.push(`${row.entity} merchants ${row.values[2]} != ${m.merchants.get(row.entity)!.size}`);
      if (scores.get(row.entity) !== m.sum.get(row.entity)) mismatches.push(`${row.entity} leaderboard ${scores.get(row.entity)} != ${m.sum.get(row.entity)}`);
    }
    // The same topics read once, without a crash, by a Tally without a data directory.
    const at = t0 + events * 10 + 60_000;
    const reference = await startTallyProcess({ ...env, TALLY_DATA_DIR: '', KAFKA_GROUP_ID: uniqueName('crash-reference') });
    children.push(reference);
    await ready(reference.url, 180_000);
    const [mine, theirs] = [await gql<DigestAnswer>(final.url, digestQuery(at)), await gql<DigestAnswer>(reference.url, digestQuery(at))];
    const differing = mine.digest.stores.filter((s, i) => JSON.stringify(s) !== JSON.stringify(theirs.digest.stores[i])).map((s) => `${s.kind} ${s.name}`);
    if (mine.digest.watermarks !== theirs.digest.watermarks) differing.push('watermarks');
    await stopTallyProcess(reference, 'SIGTERM');
    const finalExit = await stopTallyProcess(final, 'SIGTERM');
    snapshotsWritten += (final.output().match(/"msg":"snapshot written"/g) ?? []).length;
    if (finalExit.code !== 0) mismatches.push(`the final instance exited with ${JSON.stringify(finalExit)} on SIGTERM`);
    return {
      kills,
      killsDuringSnapshotWrite: kills.filter((k) => k.moment === 'snapshot-write').length,
      messages: { tx: txValues.length, pos: posValues.length, refused: m.refused },
      cards: cards.length,
      lost,
      doubleCounted,
      mismatches,
      digest: { crashed: mine.digest.digest, reference: theirs.digest.digest, differing },
      snapshotsWritten,
      durationMs: Date.now() - started,
    };
  } finally {
    stop.stopped = true;
    await producing.catch(() => undefined);
    await producer.disconnect().catch(() => undefined);
    for (const c of children) if (c.child.exitCode === null && c.child.signalCode === null) process.kill(c.pid, 'SIGKILL');
    rmSync(work, { recursive: true, force: true });
  }
}
