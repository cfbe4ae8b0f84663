// Child process of the fan-out and read-under-write benchmarks: the built Tally (dist/) with
// the pipeline of TALLY_PIPELINE, or, with TALLY_BENCH_RAW_WS=1, the yardstick instead: a bare
// `ws` server that speaks just enough graphql-ws (ack, subscribe) to broadcast the same payloads.
// Either way the process also drives load on itself, so the benchmark's process only plays the
// clients. Started with --expose-gc. Commands arrive as JSON lines on stdin and each is answered
// with one JSON line on stdout carrying the same `id`:
//
//   {"id":1,"cmd":"heap"}                                  -> {"heap": bytes after GC}
//   {"id":2,"cmd":"rounds","rate":400,"durationMs":5000}   -> one event for each of the 100
//        entities (e-0..e-99) per round, `rate` rounds per second, one round per macrotask;
//        Tally: ingested into source `ticks` ({entity, v, ts}); raw: one payload per entity,
//        serialised once and sent to each socket subscribed to it  -> {"rounds": n}
//   {"id":3,"cmd":"ingestMax","durationMs":3000,"batch":100} -> {"eventsPerS": n}
//   {"id":4,"cmd":"ingestPaced","rate":20000,"durationMs":10000,"batch":100} -> {"events": n}
//   {"id":5,"cmd":"eldStart"} / {"id":6,"cmd":"eldStop"}   -> event-loop delay p50/p99/max (ms) and CPU
//        time of the process over wall time in between (1 = one core busy)
//   {"id":7,"cmd":"profileStart"} / {"id":8,"cmd":"profileStop"} -> {"top": [the functions with
//        the most self time in between, "name (file:line) 12.3%"]}
//
// With TALLY_BENCH_REDIS_PORT=port it is instead the "feature store on Redis" design: a bare
// node:http handler answering the onlineFeatures request body (variables.entities, .features)
// with one HMGET per entity (pipelined) of the hash `f:<entity>` on that redis-server.
//
// Prints `{"url": "http://127.0.0.1:port", "pid": n}` first; stops when stdin closes.
import { Session } from 'node:inspector/promises';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { WebSocketServer } from 'ws';

const ENTITIES = 100;
const raw = process.env.TALLY_BENCH_RAW_WS === '1';
const redisPort = process.env.TALLY_BENCH_REDIS_PORT;
const dist = new URL('../../dist', import.meta.url).pathname;

let url;
let app;
let ingest;
/** raw mode: entity -> sockets subscribed to it, with the subscription id each used */
const topics = new Map();
let wss;

if (redisPort) {
  const { createServer } = await import('node:http');
  const { Redis } = await import('ioredis');
  const redis = new Redis({ host: '127.0.0.1', port: Number(redisPort) });
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', async () => {
      const { variables } = JSON.parse(Buffer.concat(chunks).toString());
      const fields = [...variables.features, 'asOf'];
      const p = redis.pipeline();
      for (const e of variables.entities) p.hmget(`f:${e}`, ...fields);
      const replies = await p.exec();
      const out = variables.entities.map((entity, i) => {
        const row = replies[i][1];
        const asOf = row[row.length - 1];
        const values = new Array(fields.length - 1);
        const freshness = new Array(fields.length - 1);
        for (let k = 0; k < values.length; k++) {
          values[k] = row[k] === null ? null : Number(row[k]);
          freshness[k] = row[k] === null || asOf === null ? null : new Date(Number(asOf)).toISOString();
        }
        return { entity, values, freshness };
      });
      const body = JSON.stringify({ data: { onlineFeatures: out } });
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${server.address().port}`;
} else if (raw) {
  const { createServer } = await import('node:http');
  const server = createServer((_req, res) => res.writeHead(404).end());
  wss = new WebSocketServer({ server, path: '/graphql', perMessageDeflate: false });
  wss.on('connection', (socket) => {
    socket.on('message', (data) => {
      const m = JSON.parse(String(data));
      if (m.type === 'connection_init') socket.send('{"type":"connection_ack"}');
      else if (m.type === 'subscribe') {
        const entity = m.payload.variables.entity;
        let set = topics.get(entity);
        if (!set) topics.set(entity, (set = []));
        set.push(socket);
      }
    });
    socket.on('error', () => {});
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${server.address().port}`;
} else {
  const { baseUrl, createTally } = await import(`${dist}/bootstrap.js`);
  const { EventIngest } = await import(`${dist}/ingest/event-ingest.js`);
  const { loadPipeline } = await import(`${dist}/pipeline/load.js`);
  const { loadSettings } = await import(`${dist}/settings/settings.js`);
  const settings = loadSettings({ ...process.env, PORT: '0', HOST: '127.0.0.1', KAFKA_BROKERS: '' });
  app = await createTally({ settings, pipeline: loadPipeline(settings.pipelinePath) });
  ingest = app.get(EventIngest);
  url = baseUrl(app);
}

const entityNames = Array.from({ length: ENTITIES }, (_, i) => `e-${i}`);
const tick = () => new Promise((resolve) => setImmediate(resolve));
/** Slow-client bound of the raw yardstick: above this many unsent bytes a socket skips a message. */
const RAW_MAX_BUFFERED = 1 << 20;
let rawSkipped = 0;

async function rounds(rate, durationMs) {
  const start = performance.now();
  let done = 0;
  let v = 0;
  for (;;) {
    const elapsed = performance.now() - start;
    if (elapsed >= durationMs) break;
    if (done >= (elapsed * rate) / 1000) {
      await tick();
      continue;
    }
    const ts = Date.now();
    v++;
    if (raw) {
      const asOf = new Date(ts).toISOString();
      for (const e of entityNames) {
        const sockets = topics.get(e);
        if (!sockets) continue;
        const payload = `{"id":"1","type":"next","payload":{"data":{"featureUpdated":{"value":${v},"asOf":"${asOf}"}}}}`;
        for (const s of sockets) {
          if (s.bufferedAmount > RAW_MAX_BUFFERED) rawSkipped++;
          else s.send(payload);
        }
      }
    } else {
      const events = entityNames.map((entity) => ({ entity, v, ts }));
      const r = await ingest.ingest('ticks', events);
      if (r.rejected > 0) throw new Error(`ticks: ${r.rejected} refused: ${JSON.stringify(r.errors.slice(0, 2))}`);
    }
    done++;
    await tick();
  }
  return { rounds: done, rawSkipped };
}

let seq = 0;
function txBatch(n) {
  const ts = Date.now();
  const out = new Array(n);
  for (let i = 0; i < n; i++) {
    seq++;
    out[i] = { card_id: `card-${String((seq * 7919) % 100_000).padStart(6, '0')}`, amount: (seq % 50_000) / 100, merchant_id: `m-${seq % 5000}`, ts };
  }
  return out;
}

async function ingestMax(durationMs, batch) {
  const start = performance.now();
  let events = 0;
  while (performance.now() - start < durationMs) {
    await ingest.ingest('transactions', txBatch(batch));
    events += batch;
    await tick();
  }
  return { eventsPerS: (events * 1000) / (performance.now() - start) };
}

async function ingestPaced(rate, durationMs, batch) {
  const start = performance.now();
  let events = 0;
  for (;;) {
    const elapsed = performance.now() - start;
    if (elapsed >= durationMs) break;
    if (events + batch > (elapsed * rate) / 1000) {
      await new Promise((resolve) => setTimeout(resolve, 1));
      continue;
    }
    await ingest.ingest('transactions', txBatch(batch));
    events += batch;
    // one batch per macrotask, as batches arrive over HTTP or Kafka: behind schedule (after a
    // GC pause, say), catching up must not hold the event loop for a burst of batches
    await tick();
  }
  return { events, eventsPerS: (events * 1000) / (performance.now() - start) };
}

const root = new URL('../..', import.meta.url).pathname;
let session;
async function profileStart() {
  session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 200 });
  await session.post('Profiler.start');
  return {};
}
async function profileStop() {
  const { profile } = await session.post('Profiler.stop');
  session.disconnect();
  // TALLY_BENCH_PROFILE_OUT=/tmp/p keeps the whole profile as /tmp/p-<tally|raw|redis>.cpuprofile
  if (process.env.TALLY_BENCH_PROFILE_OUT) {
    const { writeFileSync } = await import('node:fs');
    writeFileSync(`${process.env.TALLY_BENCH_PROFILE_OUT}-${raw ? 'raw' : redisPort ? 'redis' : 'tally'}.cpuprofile`, JSON.stringify(profile));
  }
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  for (const id of profile.samples) {
    const { functionName, url: file, lineNumber } = byId.get(id).callFrame;
    const where = file.replace(/^file:\/\//, '').replace(root, '');
    const key = `${functionName || '(anonymous)'}${where ? ` (${where}:${lineNumber + 1})` : ''}`;
    self.set(key, (self.get(key) ?? 0) + 1);
  }
  const total = profile.samples.length || 1;
  const top = [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, 10);
  return { top: top.map(([k, v]) => `${k} ${((v * 100) / total).toFixed(1)}%`) };
}

let eld;
let cpuAt;
const commands = {
  profileStart,
  profileStop,
  heap: async () => {
    globalThis.gc?.();
    globalThis.gc?.();
    await tick();
    globalThis.gc?.();
    return { heap: process.memoryUsage().heapUsed, rss: process.memoryUsage().rss };
  },
  rounds: (m) => rounds(m.rate, m.durationMs),
  ingestMax: (m) => ingestMax(m.durationMs, m.batch),
  ingestPaced: (m) => ingestPaced(m.rate, m.durationMs, m.batch),
  eldStart: () => {
    eld = monitorEventLoopDelay({ resolution: 1 });
    eld.enable();
    cpuAt = { usage: process.cpuUsage(), t: performance.now() };
    return {};
  },
  eldStop: () => {
    eld.disable();
    const cpu = process.cpuUsage(cpuAt.usage);
    const busy = (cpu.user + cpu.system) / 1000 / (performance.now() - cpuAt.t);
    return { p50: eld.percentile(50) / 1e6, p99: eld.percentile(99) / 1e6, max: eld.max / 1e6, cpu: busy };
  },
};

const stop = async () => {
  if (app) await app.close();
  if (wss) wss.close();
  process.exit(0);
};
createInterface({ input: process.stdin }).on('line', async (line) => {
  const m = JSON.parse(line);
  try {
    const result = await commands[m.cmd](m);
    process.stdout.write(`${JSON.stringify({ id: m.id, ...result })}\n`);
  } catch (err) {
    process.stdout.write(`${JSON.stringify({ id: m.id, error: String(err?.stack ?? err) })}\n`);
  }
});
process.stdin.on('end', stop);
process.stdout.write(`${JSON.stringify({ url, pid: process.pid })}\n`);
