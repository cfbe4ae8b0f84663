// Subscription fan-out: 1k and 10k graphql-ws subscribers of `featureUpdated` spread over 100
// topics (100 entities, one subscription per socket), against a bare `ws` server that
// broadcasts the same payloads (serialised once per topic) to the same number of sockets.
//
// Each server (Tally, and the yardstick) runs in a child process (test/bench/tally-server.mjs)
// and drives its own updates: rounds of one event per entity, as fast as it can, one round per
// macrotask (so Tally's per-tick coalescing does not merge them). The benchmark's process plays
// the clients: plain `ws` sockets speaking graphql-ws that count the frames they receive. Both
// servers have their subscribers connected at once and are measured in alternating runs, so
// that load from elsewhere on the machine falls on both alike. What is compared is messages
// delivered per second; memory per subscriber is the server's heap after GC with every socket
// subscribed, minus the heap before any connected.
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

/** The subscribers of one server, in their own process (test/bench/fanout-clients.mjs). */
interface Clients {
  /** frames received since the last reset (connection_ack excluded), and the sockets that received at least one */
  count(): Promise<{ received: number; live: number }>;
  reset(): Promise<void>;
  close(): Promise<void>;
}

async function connectClients(url: string, n: number): Promise<Clients> {
  const child = await startServerChild(
    { TALLY_BENCH_CLIENTS_URL: url, TALLY_BENCH_CLIENTS_N: String(n), TALLY_BENCH_CLIENTS_TOPICS: String(TOPICS), TALLY_BENCH_CLIENTS_QUERY: SUBSCRIPTION },
    'test/bench/fanout-clients.mjs',
  );
  return {
    count: () => child.call<{ received: number; live: number }>('count'),
    reset: async () => {
      await child.call('reset');
    },
    close: () => child.stop(),
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

interface Side {
  label: string;
  server: ServerChild;
  clients?: Clients;
  before: number;
  after: number;
  runs: number[];
  rounds: number;
  top?: string[];
}

/**
 * Tally and the yardstick, both connected at once, measured in alternating runs (Tally first in
 * even runs, the yardstick first in odd ones): load from elsewhere on the machine falls on both
 * alike rather than on whichever ran during it.
 */
async function measureBoth(tallyServer: ServerChild, rawServer: ServerChild, n: number, ctx: BenchContext, profile: boolean): Promise<{ tally: Measured; raw: Measured }> {
  const k = n.toLocaleString('en-US');
  const sides: Side[] = [
    { label: `Tally, ${k}`, server: tallyServer, before: 0, after: 0, runs: [], rounds: 0 },
    { label: `raw ws, ${k}`, server: rawServer, before: 0, after: 0, runs: [], rounds: 0 },
  ];
  try {
    for (const side of sides) {
      side.before = (await side.server.call<{ heap: number }>('heap')).heap;
      ctx.progress(`${side.label}: connecting ${k} subscribers`);
      side.clients = await connectClients(side.server.url, n);
      // Every subscription is live once every socket has seen an update.
      for (let attempt = 0; ; attempt++) {
        await side.clients.reset();
        await side.server.call('rounds', { rate: 20, durationMs: 500 });
        await new Promise((r) => setTimeout(r, 300));
        const { live } = await side.clients.count();
        if (live === n) break;
        if (attempt === 20) throw new Error(`${side.label}: only ${live} of ${n} subscribers received updates`);
      }
      side.after = (await side.server.call<{ heap: number }>('heap')).heap;
    }
    for (let run = 0; run < RUNS; run++) {
      for (const side of run % 2 === 0 ? sides : [...sides].reverse()) {
        await side.clients!.reset();
        const t0 = performance.now();
        const r = await side.server.call<{ rounds: number; rawSkipped: number }>('rounds', { rate: 1e9, durationMs: MEASURE_MS });
        const ms = performance.now() - t0;
        side.runs.push(((await side.clients!.count()).received * 1000) / ms);
        side.rounds += r.rounds;
        // let what is in flight arrive before the next run counts
        await new Promise((res) => setTimeout(res, 500));
      }
    }
    if (profile) {
      for (const side of sides) {
        await side.server.call('profileStart');
        await side.server.call('rounds', { rate: 1e9, durationMs: 2_000 });
        side.top = (await side.server.call<{ top: string[] }>('profileStop')).top;
        await new Promise((res) => setTimeout(res, 500));
      }
    }
  } finally {
    for (const side of sides) await side.clients?.close();
  }
  const [tally, raw] = sides.map((side): Measured => {
    const msgsPerS = median(side.runs);
    ctx.progress(`${side.label}: ${Math.round(msgsPerS).toLocaleString('en-US')} messages/s delivered (${side.runs.map((x) => Math.round(x).toLocaleString('en-US')).join(', ')}), ${((side.after - side.before) / n).toFixed(0)} bytes of heap per subscriber`);
    return { runs: side.runs, msgsPerS, bytesPerSubscriber: (side.after - side.before) / n, rounds: side.rounds / RUNS, ...(side.top ? { top: side.top } : {}) };
  });
  return { tally: tally!, raw: raw! };
}

export default async function (ctx: BenchContext): Promise<void> {
  const tmp = join(ROOT, 'bench-results', 'tmp');
  mkdirSync(tmp, { recursive: true });
  const pipelinePath = join(tmp, 'fanout-pipeline.yaml');
  writeFileSync(pipelinePath, PIPELINE);
  for (const n of SIZES) {
    const tallyServer = await startServerChild({ ...TALLY_ENV, TALLY_PIPELINE: pipelinePath });
    const rawServer = await startServerChild({ TALLY_BENCH_RAW_WS: '1' });
    let tally: Measured;
    let raw: Measured;
    try {
      ({ tally, raw } = await measureBoth(tallyServer, rawServer, n, ctx, n === SIZES[SIZES.length - 1]));
    } finally {
      await tallyServer.stop();
      await rawServer.stop();
    }
    const pairs = tally.runs.map((t, i) => t / raw.runs[i]!);
    ctx.note(
      `${n.toLocaleString('en-US')} subscribers, Tally over the yardstick in each pair of adjacent runs: ${pairs.map((r) => r.toFixed(2)).join(', ')} (median ${median(pairs).toFixed(2)}); the spread is the machine's other load, which the alternation shares out but does not remove.`,
    );
    if (tally.top) ctx.note(`CPU profile of Tally's server during one more ${n.toLocaleString('en-US')}-subscriber run (2 s), functions with the most self time: ${tally.top.join('; ')}.`);
    if (raw.top) ctx.note(`The same for the raw ws yardstick: ${raw.top.join('; ')}.`);
    // Kernel time per delivered message, from the profiles' writev share and the delivery rates.
    const writev = (m: Measured) => Number(/^writev ([\d.]+)%$/.exec(m.top?.find((t) => t.startsWith('writev ')) ?? '')?.[1] ?? NaN) / 100;
    if (tally.top && raw.top && Number.isFinite(writev(tally)) && Number.isFinite(writev(raw))) {
      const us = (m: Measured) => (writev(m) * 1e6) / m.msgsPerS;
      ctx.note(
        `Where the time goes at ${n.toLocaleString('en-US')} subscribers: about ${us(tally).toFixed(1)} us of writev per message for Tally against ${us(raw).toFixed(1)} us for the yardstick (writev's share of each profile over the messages per second; one write per message per socket either way, dearer when the clients keep up and must be woken for each), then GC and Tally's per-message path: the queue's release, the onNext hook and one writev of the result's shared bytes behind the subscription's head (src/graphql/live/next-frames.ts). Each event is executed and serialised once per document and variables, not per subscriber.`,
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
    `Each socket holds one subscription (featureUpdated, one of ${TOPICS} entities); the server updates each entity once per round, as many rounds as it can for ${MEASURE_MS / 1000} s. Tally ingests the events (${TOPICS} per round), executes and serialises each once per topic and writes the shared bytes to every subscriber with its operation id in front; the yardstick serialises once per topic and sends it to every socket (skipping a socket with 1 MiB unsent). Servers and clients are separate processes on the 2 cores (the clients of each server in a process of their own, test/bench/fanout-clients.mjs); the clients count frames without parsing them.`,
  );
}
