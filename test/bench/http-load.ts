// HTTP load for the serving benchmarks, over loopback:
//
// - `pacedLoad`: an open-loop generator at a fixed rate. Requests are sent on a schedule
//   (every 1000/rate ms, issued in small groups per timer tick) whether or not earlier ones have
//   answered, so a slow server cannot slow the load down and hide its own queueing (coordinated
//   omission). Latency runs from the moment a request is handed to the socket pool until its
//   body has arrived, measured with a high-resolution clock and kept as exact samples; a
//   request still unanswered shortly after the run counts with the time it had waited.
//   autocannon's own rate limit is not used for this: it lets each connection send its
//   per-second quota back to back and then idle, which measures bursts, not a steady rate.
// - `maxThroughput`: autocannon, closed loop (each connection waits for its answer), for the
//   highest request rate the server sustains.
import { Agent, request, type ClientRequest } from 'node:http';
import autocannon from 'autocannon';

export interface PacedResult {
  /** latency samples in ms, one per request sent; for one unanswered at the end, the time it had waited (a lower bound) */
  latenciesMs: Float64Array;
  sent: number;
  completed: number;
  /** requests still unanswered when the run gave up on them */
  unanswered: number;
  /** failed, non-200, or still unanswered `drainMs` after the last send */
  errors: number;
  /** completed requests per second over the sending period */
  achievedRate: number;
}

/**
 * Sends POSTs of `bodies` (round robin) to `url` at `rate` per second for `durationMs`, then
 * waits up to `drainMs` (default 2 s) for the answers still out. An overloaded server shows up
 * as a high p99 (an unanswered request counts with the time it has waited) rather than a run
 * that never ends.
 *
 * Given several URLs, the requests take turns among them (request i goes to url i mod n, and
 * each URL is sent the bodies in the same order), so two servers are compared under the same
 * conditions at every moment of the run; the latency of request i is at index i.
 */
export async function pacedLoad(url: string | readonly string[], bodies: readonly string[], opts: { rate: number; durationMs: number; sockets?: number; drainMs?: number }): Promise<PacedResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: opts.sockets ?? 64 });
  const targets = (typeof url === 'string' ? [url] : url).map((u) => new URL(u));
  const total = Math.round((opts.rate * opts.durationMs) / 1000);
  const latencies = new Float64Array(total).fill(Number.NaN);
  const sentAt = new Float64Array(total);
  const buffers = bodies.map((b) => Buffer.from(b));
  let completed = 0;
  let errors = 0;
  let sent = 0;
  let settled = 0;
  /** Requests not answered yet, some still queued in the agent for a free socket. */
  const open = new Set<ClientRequest>();
  const start = performance.now();
  let sendingMs = opts.durationMs;
  await new Promise<void>((resolve) => {
    let drainTimer: NodeJS.Timeout | undefined;
    const done = () => {
      if (++settled === total) {
        clearTimeout(drainTimer);
        resolve();
      }
    };
    const send = () => {
      const i = sent++;
      const body = buffers[Math.floor(i / targets.length) % buffers.length];
      const { hostname, port, pathname } = targets[i % targets.length];
      const t0 = performance.now();
      sentAt[i] = t0;
      const req = request(
        { agent, hostname, port, path: pathname, method: 'POST', headers: { 'content-type': 'application/json', 'content-length': body.length } },
        (res) => {
          res.on('data', () => undefined);
          res.on('end', () => {
            open.delete(req);
            latencies[i] = performance.now() - t0;
            if (res.statusCode === 200) completed++;
            else errors++;
            done();
          });
        },
      );
      open.add(req);
      req.on('error', () => {
        if (!open.delete(req)) return; // aborted below, after the run
        latencies[i] = performance.now() - t0;
        errors++;
        done();
      });
      req.end(body);
    };
    const tick = () => {
      const due = Math.min(total, Math.floor(((performance.now() - start) * opts.rate) / 1000) + 1);
      while (sent < due) send();
      if (sent < total) {
        setTimeout(tick, 0);
        return;
      }
      sendingMs = performance.now() - start;
      drainTimer = setTimeout(resolve, opts.drainMs ?? 2_000);
    };
    tick();
  });
  const end = performance.now();
  const unanswered = total - settled;
  for (let i = 0; i < sent; i++) if (Number.isNaN(latencies[i])) latencies[i] = end - sentAt[i];
  errors += unanswered;
  // Abort what is left, queued requests included: destroying only the agent would let it open
  // new sockets for its queue and keep loading the server during the next measurement.
  for (const req of open) req.destroy();
  open.clear();
  agent.destroy();
  return { latenciesMs: latencies.subarray(0, sent), sent, completed, unanswered, errors, achievedRate: (completed * 1000) / sendingMs };
}

export interface ThroughputResult {
  /** mean completed requests per second */
  rps: number;
  errors: number;
  non2xx: number;
}

/** autocannon against `url` with `connections` closed-loop connections for `durationS`. */
export async function maxThroughput(url: string, bodies: readonly string[], opts: { connections: number; durationS: number }): Promise<ThroughputResult> {
  let i = 0;
  const result = await autocannon({
    url,
    method: 'POST',
    connections: opts.connections,
    duration: opts.durationS,
    headers: { 'content-type': 'application/json' },
    requests: [{ setupRequest: (req: object) => ({ ...req, body: bodies[i++ % bodies.length] }) }],
  });
  return { rps: result.requests.average, errors: result.errors, non2xx: result.non2xx };
}
