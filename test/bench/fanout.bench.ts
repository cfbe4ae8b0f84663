// Subscription fan-out: 1k and 10k graphql-ws subscribers of `featureUpdated` spread over 100
// topics (100 entities, one subscription per socket), against a bare `ws` server that
// broadcasts the same payloads (serialised once per topic) to the same number of sockets.
//
// The server (Tally, or the yardstick) runs in a child process (test/bench/tally-server.mjs)
// and drives its own updates: rounds of one event per entity, as fast as it can, one round per
// macrotask (so Tally's per-tick coalescing does not merge them). The benchmark's process plays
// the clients: plain `ws` sockets speaking graphql-ws that count the frames they receive. What
// is compared is messages delivered per second; memory per subscriber is the server's heap
// after GC with every socket subscribed, minus the heap before any connected.
import WebSocket from 'ws';
import { ROOT, startServerChild, type ServerChild } from './dist-app.js';
import { median, type BenchContext } from './lib.js';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const TOPICS = 100;
// TALLY_BENCH_FANOUT_SIZES=10000 measures one size only (for profiling a change).
const SIZES = process.env.TALLY_BENCH_FANOUT_SIZES ? process.env.TALLY_BENCH_FANOUT_SIZES.split(',').map(Number) : [1_000, 10_000];
const MEASURE_MS = 3_000;
const RUNS = 5;

const PIPELINE = `
sources:
  - { name: ticks, timestamp: ts, lateness: 1h }
features:
  - { name: tick_sum, source: ticks, entity: entity, aggregation: sum, field: v, windows: [1m] }
`;

const SUBSCRIPTION = 'subscription Tick($entity: String!) { featureUpdated(name: "tick_sum", entity: $entity, window: "1m") { value asOf } }';

const TALLY_ENV = {
  TALLY_WS_MAX_CONNECTIONS_PER_KEY: '100000',
  TALLY_WS_MAX_SUBSCRIPTIONS: '1000',
  TALLY_WS_SLOW_CONSUMER_TIMEOUT: '60s',
  TALLY_WS_INIT_TIMEOUT: '60s',
  TALLY_RATE_LIMIT: '0',
};

interface Clients {
  /** frames received since the last reset (connection_ack excluded) */
  received(): number;
  reset(): void;
  /** sockets that received at least one frame since the last reset */
  live(): number;
  close(): Promise<void>;
}

async function connectClients(url: string, n: number): Promise<Clients> {
  const sockets: WebSocket[] = [];
  const perSocket = new Uint32Array(n);
  let total = 0;
  const wsUrl = `${url.replace(/^http/, 'ws')}/graphql`;
  const open = (i: number) =>
    new Promise<void>((resolve, reject) => {
      const s = new WebSocket(wsUrl, 'graphql-transport-ws', { perMessageDeflate: false });
      sockets.push(s);
      let acked = false;
      s.on('open', () => s.send('{"type":"connection_init"}'));
      s.on('message', () => {
        if (!acked) {
          acked = true;
          s.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: SUBSCRIPTION, variables: { entity: `e-${i % TOPICS}` } } }));
          resolve();
          return;
        }
        perSocket[i]!++;
        total++;
      });
      s.on('error', reject);
      s.on('close', () => reject(new Error(`socket ${i} closed`)));
    });
  const PARALLEL = 200;
  for (let i = 0; i < n; i += PARALLEL) await Promise.all(Array.from({ length: Math.min(PARALLEL, n - i) }, (_, k) => open(i + k)));
  return {
    received: () => total,
    reset: () => {
      total = 0;
      perSocket.fill(0);
    },
    live: () => perSocket.reduce((a, c) => a + (c > 0 ? 1 : 0), 0),
    close: async () => {
      await Promise.all(
        sockets.map(
          (s) =>
            new Promise<void>((resolve) => {
              s.removeAllListeners('close');
              s.on('close', () => resolve());
              s.on('error', () => resolve());
              s.terminate();
            }),
        ),
      );
    },
  };
}

interface Measured {
  runs: number[];
  /** with `profile`: the functions with the most self time in the server during one more run */
  top?: string[];
  msgsPerS: number;
  bytesPerSubscriber: number;
  rounds: number;
}

async function measure(server: ServerChild, n: number, ctx: BenchContext, label: string, profile = false): Promise<Measured> {
  const before = (await server.call<{ heap: number }>('heap')).heap;
  ctx.progress(`${label}: connecting ${n.toLocaleString('en-US')} subscribers`);
  const clients = await connectClients(server.url, n);
  try {
    // Every subscription is live once every socket has seen an update.
    for (let attempt = 0; ; attempt++) {
      clients.reset();
      await server.call('rounds', { rate: 20, durationMs: 500 });
      await new Promise((r) => setTimeout(r, 300));
      if (clients.live() === n) break;
      if (attempt === 20) throw new Error(`${label}: only ${clients.live()} of ${n} subscribers received updates`);
    }
    const after = (await server.call<{ heap: number }>('heap')).heap;
    const runs: number[] = [];
    let rounds = 0;
    for (let run = 0; run < RUNS; run++) {
      clients.reset();
      const t0 = performance.now();
      const r = await server.call<{ rounds: number; rawSkipped: number }>('rounds', { rate: 1e9, durationMs: MEASURE_MS });
      const ms = performance.now() - t0;
      runs.push((clients.received() * 1000) / ms);
      rounds += r.rounds;
      // let what is in flight arrive before the next run counts
      await new Promise((res) => setTimeout(res, 500));
    }
    let top: string[] | undefined;
    if (profile) {
      await server.call('profileStart');
      await server.call('rounds', { rate: 1e9, durationMs: 2_000 });
      top = (await server.call<{ top: string[] }>('profileStop')).top;
      await new Promise((res) => setTimeout(res, 500));
    }
    const msgsPerS = median(runs);
    ctx.progress(`${label}: ${Math.round(msgsPerS).toLocaleString('en-US')} messages/s delivered (${runs.map((x) => Math.round(x).toLocaleString('en-US')).join(', ')}), ${((after - before) / n).toFixed(0)} bytes of heap per subscriber`);
    return { runs, msgsPerS, bytesPerSubscriber: (after - before) / n, rounds: rounds / RUNS, ...(top ? { top } : {}) };
  } finally {
    await clients.close();
  }
}

export default async function (ctx: BenchContext): Promise<void> {
  const tmp = join(ROOT, 'bench-results', 'tmp');
  mkdirSync(tmp, { recursive: true });
  const pipelinePath = join(tmp, 'fanout-pipeline.yaml');
  writeFileSync(pipelinePath, PIPELINE);
  for (const n of SIZES) {
    const tallyServer = await startServerChild({ ...TALLY_ENV, TALLY_PIPELINE: pipelinePath });
    let tally: Measured;
    try {
      tally = await measure(tallyServer, n, ctx, `Tally, ${n.toLocaleString('en-US')}`, n === SIZES[SIZES.length - 1]);
    } finally {
      await tallyServer.stop();
    }
    const rawServer = await startServerChild({ TALLY_BENCH_RAW_WS: '1' });
    let raw: Measured;
    try {
      raw = await measure(rawServer, n, ctx, `raw ws, ${n.toLocaleString('en-US')}`, n === SIZES[SIZES.length - 1]);
    } finally {
      await rawServer.stop();
    }
    if (tally.top) ctx.note(`CPU profile of Tally's server during one more ${n.toLocaleString('en-US')}-subscriber run (2 s), functions with the most self time: ${tally.top.join('; ')}.`);
    if (raw.top) ctx.note(`The same for the raw ws yardstick: ${raw.top.join('; ')}.`);
    // Kernel time per delivered message, from the profiles' writev share and the delivery rates.
    const writev = (m: Measured) => Number(/^writev ([\d.]+)%$/.exec(m.top?.find((t) => t.startsWith('writev ')) ?? '')?.[1] ?? NaN) / 100;
    if (tally.top && raw.top && Number.isFinite(writev(tally)) && Number.isFinite(writev(raw))) {
      const us = (m: Measured) => (writev(m) * 1e6) / m.msgsPerS;
      ctx.note(
        `What limits ${n.toLocaleString('en-US')} subscribers: about ${us(tally).toFixed(1)} us of writev per message for Tally against ${us(raw).toFixed(1)} us for the yardstick (writev's share of each profile over the messages per second; one write per message per socket either way, dearer when the clients keep up and must be woken for each), then GC and graphql-ws's per-message path (an async iteration, the onNext hook, one JSON.stringify and one send promise per subscriber). Execution is already shared: each event is executed once per document and variables (src/graphql/live/shared-subscribe.ts).`,
      );
    }
    const k = n >= 1000 ? `${n / 1000}k` : String(n);
    ctx.record({
      metric: `fan-out, ${k} subscribers on ${TOPICS} topics: messages delivered (${RUNS} runs of ${MEASURE_MS / 1000} s each; yardstick ${Math.round(Math.min(...raw.runs)).toLocaleString('en-US')}–${Math.round(Math.max(...raw.runs)).toLocaleString('en-US')})`,
      unit: 'msg/s',
      tally: tally.msgsPerS,
      runs: tally.runs,
      yardstick: raw.msgsPerS,
      yardstickName: 'raw ws broadcast',
      higherIsBetter: true,
      ...(n === 10_000 ? { budget: '>= 0.5x', budgetRatio: 0.5 } : {}),
    });
    ctx.record({
      metric: `fan-out, ${k} subscribers: server heap per subscriber (after GC)`,
      unit: 'bytes',
      tally: tally.bytesPerSubscriber,
      yardstick: raw.bytesPerSubscriber,
      yardstickName: 'raw ws, socket only',
      higherIsBetter: false,
    });
  }
  ctx.note(
    `Each socket holds one subscription (featureUpdated, one of ${TOPICS} entities); the server updates each entity once per round, as many rounds as it can for ${MEASURE_MS / 1000} s. Tally ingests the events (${TOPICS} per round) and serialises one graphql-ws message per subscriber; the yardstick serialises once per topic and sends it to every socket (skipping a socket with 1 MiB unsent). Server and clients are separate processes on the 2 cores; the clients count frames without parsing them, and the same client process limits both sides.`,
  );
}
