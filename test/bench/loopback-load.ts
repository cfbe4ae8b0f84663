// Loopback HTTP load for the benchmarks that start their own servers:
//
// - `paced`: open loop at a fixed rate. Requests leave on a schedule whether or not earlier
//   ones have answered, so a slow server cannot slow the load and hide its queueing; each is
//   timed from send to the last byte of its answer.
// - `closedLoop`: `connections` keep-alive connections, each sending its next request when the
//   previous one has answered, for the highest rate a server sustains.
import { Agent, request } from 'node:http';

export interface Paced {
  latenciesMs: Float64Array;
  errors: number;
  unanswered: number;
}

/** POSTs `bodies` round robin at `rate`/s for `durationMs`; a request unanswered 2 s after the last send counts with the time it waited. */
export async function paced(url: string, bodies: Buffer[], rate: number, durationMs: number): Promise<Paced> {
  const agent = new Agent({ keepAlive: true, maxSockets: 32 });
  const { hostname, port, pathname } = new URL(url);
  const total = Math.round((rate * durationMs) / 1000);
  const lat = new Float64Array(total).fill(Number.NaN);
  const sentAt = new Float64Array(total);
  let sent = 0;
  let settled = 0;
  let errors = 0;
  const start = performance.now();
  await new Promise<void>((resolve) => {
    let drain: NodeJS.Timeout | undefined;
    const settle = () => {
      if (++settled === total) {
        clearTimeout(drain);
        resolve();
      }
    };
    const send = () => {
      const i = sent++;
      const body = bodies[i % bodies.length]!;
      const t0 = performance.now();
      sentAt[i] = t0;
      const req = request({ agent, hostname, port, path: pathname, method: 'POST', headers: { 'content-type': 'application/json', 'content-length': body.length } }, (res) => {
        res.on('data', () => undefined);
        res.on('end', () => {
          lat[i] = performance.now() - t0;
          if (res.statusCode !== 200) errors++;
          settle();
        });
      });
      req.on('error', () => {
        lat[i] = performance.now() - t0;
        errors++;
        settle();
      });
      req.end(body);
    };
    const tick = () => {
      const due = Math.min(total, Math.floor(((performance.now() - start) * rate) / 1000) + 1);
      while (sent < due) send();
      if (sent < total) setTimeout(tick, 0);
      else drain = setTimeout(resolve, 2_000);
    };
    tick();
  });
  const end = performance.now();
  let unanswered = 0;
  for (let i = 0; i < sent; i++) {
    if (Number.isNaN(lat[i])) {
      lat[i] = end - sentAt[i]!;
      unanswered++;
    }
  }
  agent.destroy();
  return { latenciesMs: lat.subarray(0, sent), errors: errors + unanswered, unanswered };
}

/** POSTs `bodies` round robin over `connections` closed-loop keep-alive connections for `durationMs`; returns answers per second. */
export async function closedLoop(url: string, bodies: Buffer[], connections: number, durationMs: number): Promise<{ rps: number; errors: number }> {
  const agent = new Agent({ keepAlive: true, maxSockets: connections });
  const { hostname, port, pathname } = new URL(url);
  let done = 0;
  let errors = 0;
  let next = 0;
  const start = performance.now();
  const one = () =>
    new Promise<void>((resolve) => {
      const body = bodies[next++ % bodies.length]!;
      const req = request({ agent, hostname, port, path: pathname, method: 'POST', headers: { 'content-type': 'application/json', 'content-length': body.length } }, (res) => {
        res.on('data', () => undefined);
        res.on('end', () => {
          if (res.statusCode === 200) done++;
          else errors++;
          resolve();
        });
      });
      req.on('error', () => {
        errors++;
        resolve();
      });
      req.end(body);
    });
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (performance.now() - start < durationMs) await one();
    }),
  );
  const rps = (done * 1000) / (performance.now() - start);
  agent.destroy();
  return { rps, errors };
}
