// Child process of the fan-out benchmark: the subscribers of one server. Opens
// TALLY_BENCH_CLIENTS_N plain `ws` sockets to TALLY_BENCH_CLIENTS_URL (http://...), each
// speaking graphql-ws: connection_init, then one subscribe of TALLY_BENCH_CLIENTS_QUERY with
// variables { entity: "e-<i mod TALLY_BENCH_CLIENTS_TOPICS>" }; counts the frames that follow
// without parsing them. One process per server, so that the subscribers of Tally and of the
// yardstick can stay connected together (each process stays under its open-file limit).
//
// Prints `{"url": <the server's url>, "pid": n}` once every socket is subscribed, then answers
// JSON-line commands on stdin with one JSON line carrying the same `id`:
//   {"id":1,"cmd":"reset"} -> {}                   zero the counts
//   {"id":2,"cmd":"count"} -> {"received": frames since the reset, "live": sockets with at least one}
// Closes every socket and exits when stdin closes.
import { createInterface } from 'node:readline';
import WebSocket from 'ws';

const url = process.env.TALLY_BENCH_CLIENTS_URL;
const n = Number(process.env.TALLY_BENCH_CLIENTS_N);
const topics = Number(process.env.TALLY_BENCH_CLIENTS_TOPICS);
const query = process.env.TALLY_BENCH_CLIENTS_QUERY;

const sockets = [];
const perSocket = new Uint32Array(n);
let total = 0;
const wsUrl = `${url.replace(/^http/, 'ws')}/graphql`;
const open = (i) =>
  new Promise((resolve, reject) => {
    const s = new WebSocket(wsUrl, 'graphql-transport-ws', { perMessageDeflate: false });
    sockets.push(s);
    let acked = false;
    s.on('open', () => s.send('{"type":"connection_init"}'));
    s.on('message', () => {
      if (!acked) {
        acked = true;
        s.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query, variables: { entity: `e-${i % topics}` } } }));
        resolve();
        return;
      }
      perSocket[i]++;
      total++;
    });
    s.on('error', reject);
    s.on('close', () => reject(new Error(`socket ${i} closed`)));
  });
const PARALLEL = 200;
for (let i = 0; i < n; i += PARALLEL) await Promise.all(Array.from({ length: Math.min(PARALLEL, n - i) }, (_, k) => open(i + k)));

const commands = {
  reset: () => {
    total = 0;
    perSocket.fill(0);
    return {};
  },
  count: () => ({ received: total, live: perSocket.reduce((a, c) => a + (c > 0 ? 1 : 0), 0) }),
};
createInterface({ input: process.stdin }).on('line', (line) => {
  const m = JSON.parse(line);
  process.stdout.write(`${JSON.stringify({ id: m.id, ...commands[m.cmd](m) })}\n`);
});
process.stdin.on('end', async () => {
  await Promise.all(
    sockets.map(
      (s) =>
        new Promise((resolve) => {
          s.removeAllListeners('close');
          s.on('close', resolve);
          s.on('error', resolve);
          s.terminate();
        }),
    ),
  );
  process.exit(0);
});
process.stdout.write(`${JSON.stringify({ url, pid: process.pid })}\n`);
