import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { LookupQuestion } from './lookups.js';
import { PEER_BUS_PATH, PeerBus, PeerBusServer, type PeerRequest } from './peer-bus.js';

const SECRET = 'bus-secret-0123456789';

/** An HTTP server with the bus's answering side, answering each lookup with `answer`. */
async function owner(answer: (request: PeerRequest) => object): Promise<{ url: string; http: Server; bus: PeerBusServer; close(): Promise<void> }> {
  const http = createServer((_req, res) => res.writeHead(404).end());
  const bus = new PeerBusServer((given) => given === SECRET, answer);
  bus.attach(http);
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  return {
    url,
    http,
    bus,
    close: async () => {
      bus.close();
      http.closeAllConnections();
      await new Promise((resolve) => http.close(resolve));
    },
  };
}

const feature = (entity: string): LookupQuestion => ({ kind: 'feature', name: 'n', entity, window: 'lifetime' });

describe('PeerBus', () => {
  const closers: (() => unknown)[] = [];
  afterEach(async () => {
    for (const c of closers.splice(0).reverse()) await c();
  });

  it('matches many concurrent lookups on one socket to their replies, with the caller key passed on', async () => {
    const seen: unknown[] = [];
    const o = await owner((r) => {
      seen.push(r.authorization);
      expect(r.op).toBe('lookup');
      const q = r.q as { entity: string };
      return { ok: true, value: { entity: q.entity } };
    });
    closers.push(() => o.close());
    const bus = new PeerBus(SECRET);
    closers.push(() => bus.close());
    const entities = Array.from({ length: 200 }, (_, i) => `user-${i}`);
    const replies = await Promise.all(entities.map((e, i) => bus.request(o.url, 'lookup', i % 2 === 0 ? `Bearer k${i}` : undefined, feature(e), 5_000)));
    expect(replies).toEqual(entities.map((e) => ({ ok: true, value: { entity: e }, id: expect.any(Number) as number })));
    expect(seen).toEqual(entities.map((_, i) => (i % 2 === 0 ? `Bearer k${i}` : undefined)));
  });

  it('is refused (403) without the secret, and every waiting lookup fails', async () => {
    const o = await owner(() => ({ ok: true, value: null }));
    closers.push(() => o.close());
    const bus = new PeerBus('not-the-secret');
    closers.push(() => bus.close());
    await expect(Promise.all([bus.request(o.url, 'lookup', undefined, feature('a'), 5_000), bus.request(o.url, 'lookup', undefined, feature('b'), 5_000)])).rejects.toThrow('the bus was refused: HTTP 403');
  });

  it('fails the lookups waiting on a socket that closes, and opens a new socket for the next one', async () => {
    const o: Awaited<ReturnType<typeof owner>> = await owner((r) => {
      const entity = (r.q as { entity: string }).entity;
      // Cuts every bus socket (and stops taking upgrades) before its reply can be sent.
      if (entity === 'cut') o.bus.close();
      return { ok: true, value: entity };
    });
    closers.push(() => o.close());
    const bus = new PeerBus(SECRET);
    closers.push(() => bus.close());
    expect(await bus.request(o.url, 'lookup', undefined, feature('first'), 5_000)).toMatchObject({ ok: true, value: 'first' });
    await expect(bus.request(o.url, 'lookup', undefined, feature('cut'), 5_000)).rejects.toThrow(/the bus closed/);
    // The owner takes upgrades again: the next lookup opens a new socket and is answered.
    o.bus.attach(o.http);
    expect(await bus.request(o.url, 'lookup', undefined, feature('again'), 5_000)).toMatchObject({ ok: true, value: 'again' });
  });

  it('fails a lookup not answered in time, and drops its late reply', async () => {
    const { WebSocketServer } = await import('ws');
    // A peer that answers its first request after 200 ms, and the others at once.
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, path: PEER_BUS_PATH });
    await new Promise((resolve) => wss.once('listening', resolve));
    closers.push(() => new Promise((resolve) => wss.close(resolve)));
    wss.on('connection', (socket) =>
      socket.on('message', (data) => {
        const { id, q } = JSON.parse(String(data)) as { id: number; q: { entity: string } };
        const reply = JSON.stringify({ id, ok: true, value: q.entity });
        if (id === 1) setTimeout(() => socket.send(reply), 200);
        else socket.send(reply);
      }),
    );
    const url = `http://127.0.0.1:${(wss.address() as AddressInfo).port}`;
    const bus = new PeerBus(SECRET);
    closers.push(() => bus.close());
    await expect(bus.request(url, 'lookup', undefined, feature('slow'), 50)).rejects.toThrow('no answer within 50 ms');
    expect(await bus.request(url, 'lookup', undefined, feature('next'), 5_000)).toMatchObject({ ok: true, value: 'next' });
    await new Promise((resolve) => setTimeout(resolve, 250)); // the late reply arrives, and is dropped
    expect(await bus.request(url, 'lookup', undefined, feature('after'), 5_000)).toMatchObject({ ok: true, value: 'after' });
  });

  it('leaves upgrades to other paths to their own listeners', async () => {
    const o = await owner(() => ({ ok: true, value: null }));
    closers.push(() => o.close());
    const other: string[] = [];
    o.http.on('upgrade', (req, socket) => {
      if (req.url !== PEER_BUS_PATH) other.push(req.url ?? '');
      socket.destroy();
    });
    const { default: WebSocket } = await import('ws');
    const ws = new WebSocket(`${o.url.replace('http', 'ws')}/graphql`);
    await new Promise((resolve) => ws.once('error', resolve).once('close', resolve));
    expect(other).toEqual(['/graphql']);
  });
});
