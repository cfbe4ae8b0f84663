/*
 * Requests to peers (forwarded lookups, gathered partial answers): JSON over HTTP/1.1 on
 * kept-alive connections, one pool per member URL. node:http with a keep-alive Agent costs a
 * fraction of what fetch does per request (no WHATWG streams, no per-request AbortSignal
 * timer), which is most of what a forwarding hop adds on a busy machine.
 */
import { Agent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';

/** Connections kept open per peer (requests beyond it wait for one). */
const MAX_SOCKETS = 64;
/** An idle connection is closed after this, well before the peer's server would (Fastify: 72 s). */
const IDLE_MS = 30_000;

const agents = { http: new Agent({ keepAlive: true, maxSockets: MAX_SOCKETS, timeout: IDLE_MS }), https: new HttpsAgent({ keepAlive: true, maxSockets: MAX_SOCKETS, timeout: IDLE_MS }) };

/**
 * POSTs `body` as JSON to `url`; resolves with the status and the parsed JSON answer. Rejects
 * on a network error, a timeout or an answer that is not JSON. A kept-alive connection the
 * peer closed meanwhile (it restarted) fails at once: the request is sent again, once, on a new one.
 */
export async function postJson(url: string, headers: Record<string, string>, body: unknown, timeoutMs: number): Promise<{ status: number; body: unknown }> {
  const target = new URL(url);
  const payload = Buffer.from(JSON.stringify(body));
  try {
    return await send(target, headers, payload, timeoutMs);
  } catch (err) {
    if ((err as { reusedSocket?: boolean }).reusedSocket !== true) throw err;
    return send(target, headers, payload, timeoutMs);
  }
}

function send(target: URL, headers: Record<string, string>, payload: Buffer, timeoutMs: number): Promise<{ status: number; body: unknown }> {
  const secure = target.protocol === 'https:';
  return new Promise((resolve, reject) => {
    const req = (secure ? httpsRequest : httpRequest)(
      target,
      { method: 'POST', agent: secure ? agents.https : agents.http, headers: { ...headers, 'content-type': 'application/json', 'content-length': String(payload.length) }, timeout: timeoutMs },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          try {
            resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown });
          } catch (err) {
            reject(new Error(`HTTP ${res.statusCode}: the answer is not JSON (${String(err)})`));
          }
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (err: NodeJS.ErrnoException) => {
      // A reset on a connection used before: the peer closed it while it was idle here.
      if (req.reusedSocket && (err.code === 'ECONNRESET' || err.code === 'EPIPE')) Object.assign(err, { reusedSocket: true });
      reject(err);
    });
    req.end(payload);
  });
}
