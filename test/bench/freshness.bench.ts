// Freshness: from an event produced to Kafka to the featureUpdated push that shows it.
//
// The project's own broker (scripts/kafka/broker.ts) and the built Tally as a separate process
// (node dist/main.js, Kafka mode) with one count feature per user. This process produces 10,000
// events/s spread evenly over 2,000 users (keyed by user, 3 partitions, each stamped with its
// send time as event time) and holds featureUpdated subscriptions (graphql-ws, 4 connections)
// on 200 of them. A push carries lastEventAt, the event time of the newest event it reflects:
// every produced event of that user up to it is delivered by that push, and its freshness is
// the push's arrival time minus the event's send time (both on this machine's clock).
//
// Yardstick, in a second phase on the same broker: a kafkajs consumer with Tally's consumer
// settings and a handler that does nothing but timestamp, for the same events (the floor that
// producing, the broker and fetching set).
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createClient, type Client } from 'graphql-ws';
import { Kafka, logLevel, Partitioners, type Producer } from 'kafkajs';
import WebSocket from 'ws';
import { startKafka } from '../../scripts/kafka/broker.js';
import { buildDist, DIST, ROOT } from './dist-app.js';
import { percentiles, type BenchContext } from './lib.js';

const RATE = 10_000;
const USERS = 2_000;
const WATCHED = 200;
const CONNECTIONS = 4;
const PARTITIONS = 3;
const WARMUP_MS = 5_000;
const MEASURE_MS = 15_000;
/** After the last event, how long a push may still arrive before the event counts as undelivered. */
const TAIL_MS = 3_000;
const TOPIC = 'clicks';

const user = (i: number) => `u-${i}`;

/** The yardstick's consumer process (Tally's client settings, no commits): prints "user ts arrival" per watched event. */
const FLOOR_CONSUMER = `
import { Kafka, logLevel } from 'kafkajs';
const watched = new Set(process.env.WATCHED.split(','));
const kafka = new Kafka({ clientId: 'freshness-floor', brokers: [process.env.BROKERS], logLevel: logLevel.NOTHING });
const consumer = kafka.consumer({ groupId: 'freshness-floor-' + Date.now(), maxWaitTimeInMs: 100, sessionTimeout: 30000, heartbeatInterval: 3000 });
await consumer.connect();
await consumer.subscribe({ topics: [process.env.TOPIC], fromBeginning: false });
consumer.on(consumer.events.GROUP_JOIN, () => process.stdout.write('joined\\n'));
await consumer.run({ eachBatchAutoResolve: false, autoCommit: false, eachBatch: async ({ batch, resolveOffset }) => {
  const at = Date.now();
  let out = '';
  for (const m of batch.messages) {
    const u = m.key.toString();
    if (watched.has(u)) out += u + ' ' + JSON.parse(m.value.toString()).ts + ' ' + at + '\\n';
  }
  if (batch.messages.length > 0) resolveOffset(batch.messages[batch.messages.length - 1].offset);
  if (out) process.stdout.write(out);
} });
process.on('SIGTERM', () => consumer.disconnect().finally(() => process.exit(0)));
`;

const pipeline = (topic: string) => `
sources:
  - { name: clicks, topic: ${topic}, timestamp: ts, lateness: 1m }
features:
  - { name: user_clicks, source: clicks, entity: user, aggregation: count, windows: [1m, 1h] }
`;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

async function startTallyProcess(brokers: string, pipelinePath: string): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  const child = spawn(process.execPath, [join(DIST, 'main.js')], {
    cwd: ROOT,
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', KAFKA_BROKERS: brokers, KAFKA_GROUP_ID: `freshness-${Date.now()}`, TALLY_PIPELINE: pipelinePath, TALLY_LOG_LEVEL: 'error', NODE_ENV: 'production' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`tally exited with code ${child.exitCode}`);
    const ok = await fetch(`${url}/health`)
      .then(async (r) => r.status === 200 && ((await r.json()) as { kafka?: { connected?: boolean } }).kafka?.connected === true)
      .catch(() => false);
    if (ok) return { url, child };
    if (Date.now() > deadline) throw new Error('tally did not report a connected consumer within 60 s');
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Send times of produced events per watched user, oldest first, and the latencies measured. */
class Ledger {
  private readonly pending = new Map<string, number[]>();
  readonly latencies: number[] = [];
  recordFrom = Number.POSITIVE_INFINITY;

  sent(u: string, ts: number): void {
    this.pending.get(u)?.push(ts);
  }

  watch(u: string): void {
    this.pending.set(u, []);
  }

  /** A push (or a consumed event) for `u` reflecting events up to `upTo`, arriving at `at`. */
  delivered(u: string, upTo: number, at: number): void {
    const q = this.pending.get(u);
    if (!q) return;
    let n = 0;
    while (n < q.length && q[n] <= upTo) {
      if (q[n] >= this.recordFrom) this.latencies.push(at - q[n]);
      n++;
    }
    if (n > 0) q.splice(0, n);
  }

  undelivered(): number {
    let n = 0;
    for (const q of this.pending.values()) for (const ts of q) if (ts >= this.recordFrom) n++;
    return n;
  }
}

/** Produces RATE events/s for `ms`: every tick sends the events due so far in one batch. */
async function produceFor(producer: Producer, topic: string, ledger: Ledger, ms: number, startUser: { i: number }): Promise<number> {
  const start = performance.now();
  let sent = 0;
  const inflight = new Set<Promise<unknown>>();
  let failure: unknown;
  while (performance.now() - start < ms) {
    const due = Math.floor(((performance.now() - start) * RATE) / 1000);
    if (due > sent) {
      const ts = Date.now();
      const messages = [];
      for (; sent < due; sent++) {
        const u = user(startUser.i++ % USERS);
        ledger.sent(u, ts);
        messages.push({ key: u, value: JSON.stringify({ user: u, ts }) });
      }
      const p = producer.send({ topic, acks: 1, messages }).catch((e: unknown) => (failure = e));
      inflight.add(p);
      void p.finally(() => inflight.delete(p));
    }
    await new Promise((r) => setTimeout(r, 1));
  }
  await Promise.all(inflight);
  if (failure) throw failure instanceof Error ? failure : new Error(String(failure));
  return sent;
}

function subscribe(url: string, users: string[], ledger: Ledger): { clients: Client[]; ready: Promise<void> } {
  const clients: Client[] = [];
  const acks: Promise<void>[] = [];
  const perConnection = Math.ceil(users.length / CONNECTIONS);
  for (let c = 0; c < CONNECTIONS; c++) {
    const client = createClient({ url: `${url.replace(/^http/, 'ws')}/graphql`, webSocketImpl: WebSocket, retryAttempts: 0, lazy: false });
    clients.push(client);
    acks.push(new Promise<void>((resolve) => client.on('connected', () => resolve())));
    for (const u of users.slice(c * perConnection, (c + 1) * perConnection)) {
      client.subscribe<{ featureUpdated: { lastEventAt: string | null } }>(
        { query: 'subscription($u: String!) { featureUpdated(name: "user_clicks", entity: $u, window: "1m") { lastEventAt } }', variables: { u } },
        {
          next: (msg) => {
            const at = Date.now();
            const last = msg.data?.featureUpdated.lastEventAt;
            if (last) ledger.delivered(u, Date.parse(last), at);
          },
          error: () => undefined,
          complete: () => undefined,
        },
      );
    }
  }
  return { clients, ready: Promise.all(acks).then(() => new Promise((r) => setTimeout(r, 500))) };
}

export default async function (ctx: BenchContext): Promise<void> {
  ctx.progress('building dist/ (tsc) and starting the Kafka broker');
  buildDist();
  const broker = await startKafka();
  const children: ChildProcess[] = [];
  try {
    const kafka = new Kafka({ clientId: 'freshness-bench', brokers: [broker.brokers], logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: TOPIC, numPartitions: PARTITIONS }, { topic: `${TOPIC}.dlq`, numPartitions: 1 }], waitForLeaders: true });
    await admin.disconnect();
    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: false });
    await producer.connect();
    const watched = Array.from({ length: WATCHED }, (_, i) => user(i * (USERS / WATCHED)));

    // Phase 1: Tally.
    const { writeFileSync, mkdirSync } = await import('node:fs');
    const tmp = join(ROOT, 'bench-results', 'tmp');
    mkdirSync(tmp, { recursive: true });
    const pipelinePath = join(tmp, 'freshness-pipeline.yaml');
    writeFileSync(pipelinePath, pipeline(TOPIC));
    ctx.progress('starting Tally (node dist/main.js) in Kafka mode');
    const tally = await startTallyProcess(broker.brokers, pipelinePath);
    children.push(tally.child);
    const ledger = new Ledger();
    for (const u of watched) ledger.watch(u);
    const subs = subscribe(tally.url, watched, ledger);
    await subs.ready;
    ctx.progress(`producing ${RATE.toLocaleString('en-US')} events/s: ${WARMUP_MS / 1000} s warm-up, ${MEASURE_MS / 1000} s measured`);
    const next = { i: 0 };
    let produced = await produceFor(producer, TOPIC, ledger, WARMUP_MS, next);
    ledger.recordFrom = Date.now();
    const t0 = performance.now();
    produced += await produceFor(producer, TOPIC, ledger, MEASURE_MS, next);
    const achieved = ((produced - (RATE * WARMUP_MS) / 1000) * 1000) / (performance.now() - t0);
    await new Promise((r) => setTimeout(r, TAIL_MS));
    const undelivered = ledger.undelivered();
    const accepted = await fetch(`${tally.url}/metrics`)
      .then((r) => r.text())
      .then((t) => Number(/^tally_events_accepted_total\{source="clicks"\} (\S+)$/m.exec(t)?.[1] ?? NaN));
    await Promise.all(subs.clients.map((c) => c.dispose()));
    const q = percentiles(ledger.latencies, [50, 90, 99, 99.9]);
    ctx.progress(`Tally: ${ledger.latencies.length.toLocaleString('en-US')} events timed, p50 ${q.p50} ms, p99 ${q.p99} ms; ${undelivered} undelivered; ${accepted} of ${produced} applied`);

    // Phase 2: the floor, a bare kafkajs consumer with Tally's consumer settings, in its own
    // process as Tally is; it timestamps each watched event on arrival and reports it on stdout.
    ctx.progress('yardstick: a no-op kafkajs consumer on the same topic');
    const floor = new Ledger();
    for (const u of watched) floor.watch(u);
    const consumer = spawn(process.execPath, ['--input-type=module', '-e', FLOOR_CONSUMER], {
      cwd: ROOT,
      env: { ...process.env, BROKERS: broker.brokers, TOPIC, WATCHED: watched.join(',') },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    children.push(consumer);
    let buffered = '';
    let joinedGroup!: () => void;
    const consumerJoined = new Promise<void>((r) => (joinedGroup = r));
    consumer.stdout!.on('data', (d: Buffer) => {
      buffered += d.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) {
        if (line === 'joined') joinedGroup();
        const [u, ts, at] = line.split(' ');
        if (at !== undefined) floor.delivered(u, Number(ts), Number(at));
      }
    });
    await consumerJoined;
    await new Promise((r) => setTimeout(r, 2_000));
    await produceFor(producer, TOPIC, floor, WARMUP_MS, next);
    floor.recordFrom = Date.now();
    await produceFor(producer, TOPIC, floor, MEASURE_MS, next);
    await new Promise((r) => setTimeout(r, TAIL_MS));
    consumer.kill('SIGTERM');
    await producer.disconnect();
    const f = percentiles(floor.latencies, [50, 99]);

    ctx.record({
      metric: `event produced -> featureUpdated pushed, p99 at ${RATE.toLocaleString('en-US')} events/s (p50 ${q.p50} ms, p90 ${q.p90} ms, p99.9 ${q['p99.9']} ms; ${ledger.latencies.length.toLocaleString('en-US')} events timed)`,
      unit: 'ms',
      tally: q.p99,
      yardstick: f.p99,
      yardstickName: `produce -> kafkajs consumer with Tally's settings and a no-op handler in its own process, same broker (p50 ${f.p50} ms)`,
      higherIsBetter: false,
      budget: '<= 50 ms',
      budgetAbs: 50,
    });
    ctx.note(
      `Freshness: ${produced.toLocaleString('en-US')} events produced (${achieved.toFixed(0)} events/s while measured) to ${PARTITIONS} partitions keyed by user over ${USERS.toLocaleString('en-US')} users, featureUpdated subscriptions on ${WATCHED} of them over ${CONNECTIONS} graphql-ws connections; ${accepted.toLocaleString('en-US')} applied by Tally; ${undelivered} measured events of watched users were not pushed within ${TAIL_MS / 1000} s of the end. Times are ms on one clock (event time = send time), so resolution is 1 ms; producer, subscriber, broker and Tally share the 2 cores.`,
    );
  } finally {
    for (const c of children) c.kill('SIGTERM');
    await broker.stop();
  }
}
