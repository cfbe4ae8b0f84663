/*
 * The peer bus: what members ask each other — forwarded point lookups (forwarding.ts,
 * lookups.ts) and the parts of gathered queries (gather.ts, partials.ts) — travels over one
 * WebSocket per pair, opened on the answering member's HTTP port at /cluster/bus with the
 * cluster secret, and kept. A request is one JSON message each way, matched by id; many are
 * in flight on one socket at once. Against an HTTP request per lookup (even on a kept-alive
 * connection) this drops the request and response objects, header parsing and routing on
 * both sides: measured on loopback, a round trip took about half the time of a bare node:http
 * one, and the whole hop was most of what a forwarded lookup cost.
 *
 * A socket that closes or errs fails the requests waiting on it (the caller answers
 * PARTITIONS_UNAVAILABLE naming the partitions); the next request to that member opens a new
 * one. The answering member authenticates the socket once (the secret, at the upgrade) and
 * the caller's API key on each request (peer-requests.ts).
 */
import type { Server as HttpServer, IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import WebSocket, { WebSocketServer, type RawData } from 'ws';
import { pathOf } from '../security/http-auth.js';

/** The bus's path on every member's HTTP port. */
export const PEER_BUS_PATH = '/cluster/bus';
/** The header the opening member presents the cluster secret in. */
export const PEER_BUS_SECRET_HEADER = 'x-tally-cluster-secret';
/** Largest message either side accepts (an onlineFeatures lookup of many entities and names, a long top-N). */
const MAX_MESSAGE_BYTES = 16 * 2 ** 20;

/** What a member asks of a peer: a forwarded lookup or its part of a gathered query. */
export type PeerOp = 'lookup' | 'partial';

/** A request as the answering member receives it (unchecked: peer-requests.ts reads it). */
export interface PeerRequest {
  op?: unknown;
  /** The caller's Authorization value, checked there too. */
  authorization?: unknown;
  q?: unknown;
}

/** What travels: the request with an id for its reply. */
interface BusRequest {
  id: number;
  op: PeerOp;
  authorization?: string;
  q: unknown;
}

interface Waiting {
  resolve: (reply: unknown) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

/** One member's socket to one peer, and the lookups waiting on it. */
class Link {
  private readonly waiting = new Map<number, Waiting>();
  private nextId = 1;
  readonly opened: Promise<void>;

  constructor(
    readonly socket: WebSocket,
    private readonly gone: (link: Link) => void,
  ) {
    this.opened = new Promise<void>((resolve, reject) => {
      socket.once('open', resolve);
      socket.once('unexpected-response', (_req, res) => {
        reject(new Error(`the bus was refused: HTTP ${res.statusCode}`));
        res.resume();
        socket.terminate();
      });
      socket.once('error', reject);
    });
    this.opened.catch(() => undefined);
    socket.on('message', (data: RawData) => this.received(data));
    socket.on('error', () => undefined); // the close that follows fails what waits
    socket.on('close', (code, reason) => this.closed(`the bus closed (${code}${reason.length ? `: ${String(reason)}` : ''})`));
  }

  async request(op: PeerOp, authorization: string | undefined, q: unknown, timeoutMs: number): Promise<unknown> {
    await this.opened;
    const id = this.nextId++;
    return new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.set(id, { resolve, reject, timer });
      const message: BusRequest = authorization === undefined ? { id, op, q } : { id, op, authorization, q };
      this.socket.send(JSON.stringify(message), (err) => {
        if (err) this.fail(id, err);
      });
    });
  }

  private received(data: RawData): void {
    let reply: { id?: unknown };
    try {
      reply = JSON.parse(String(data)) as { id?: unknown };
    } catch {
      this.socket.terminate();
      return;
    }
    const id = reply.id as number;
    const w = this.waiting.get(id);
    if (w === undefined) return; // timed out meanwhile
    this.waiting.delete(id);
    clearTimeout(w.timer);
    w.resolve(reply);
  }

  private fail(id: number, err: Error): void {
    const w = this.waiting.get(id);
    if (w === undefined) return;
    this.waiting.delete(id);
    clearTimeout(w.timer);
    w.reject(err);
  }

  private closed(why: string): void {
    this.gone(this);
    for (const id of [...this.waiting.keys()]) this.fail(id, new Error(why));
  }
}

/** The asking side: one Link per peer URL, opened on first use and again after it closed. */
export class PeerBus {
  private readonly links = new Map<string, Link>();

  constructor(private readonly secret: string) {}

  /**
   * Sends `q` to the member at `url` (its advertised URL) as `op` and resolves with its reply
   * (an object with the request's id); rejects when the bus fails or the reply is late.
   */
  request<R>(url: string, op: PeerOp, authorization: string | undefined, q: unknown, timeoutMs: number): Promise<R & { id: number }> {
    return this.link(url).request(op, authorization, q, timeoutMs) as Promise<R & { id: number }>;
  }

  /** Closes every socket (at shutdown). */
  close(): void {
    for (const link of this.links.values()) link.socket.terminate();
    this.links.clear();
  }

  private link(url: string): Link {
    const known = this.links.get(url);
    if (known !== undefined) return known;
    const target = new URL(PEER_BUS_PATH, url);
    target.protocol = target.protocol === 'https:' ? 'wss:' : 'ws:';
    const socket = new WebSocket(target, { headers: { [PEER_BUS_SECRET_HEADER]: this.secret }, perMessageDeflate: false, maxPayload: MAX_MESSAGE_BYTES, handshakeTimeout: 5_000 });
    const link = new Link(socket, (l) => {
      if (this.links.get(url) === l) this.links.delete(url);
    });
    this.links.set(url, link);
    return link;
  }
}

/** The answering side: takes upgrades to PEER_BUS_PATH that carry the secret, and answers each request with `answer`. */
export class PeerBusServer {
  private readonly wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: MAX_MESSAGE_BYTES });
  private http: HttpServer | undefined;

  constructor(
    private readonly isPeerSecret: (given: unknown) => boolean,
    private readonly answer: (request: PeerRequest) => object,
  ) {
    this.wss.on('connection', (socket: WebSocket) => {
      socket.on('error', () => undefined); // the client's side of the socket failed: it closes
      socket.on('message', (data: RawData) => this.received(socket, data));
    });
  }

  /** Takes the HTTP server's upgrades to the bus path (others are left to their own listeners). */
  attach(http: HttpServer): void {
    this.http = http;
    http.on('upgrade', this.onUpgrade);
  }

  close(): void {
    this.http?.off('upgrade', this.onUpgrade);
    this.http = undefined;
    for (const socket of this.wss.clients) socket.terminate();
  }

  private readonly onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer): void => {
    if (pathOf(request) !== PEER_BUS_PATH) return;
    if (!this.isPeerSecret(request.headers[PEER_BUS_SECRET_HEADER])) {
      socket.end(`HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Type: text/plain\r\n\r\n${PEER_BUS_SECRET_HEADER}: only members of this cluster may open the bus\n`);
      return;
    }
    this.wss.handleUpgrade(request, socket, head, (ws) => this.wss.emit('connection', ws, request));
  };

  private received(socket: WebSocket, data: RawData): void {
    let message: Partial<BusRequest>;
    try {
      message = JSON.parse(String(data)) as Partial<BusRequest>;
    } catch {
      socket.close(1003, 'not JSON');
      return;
    }
    if (typeof message !== 'object' || message === null || typeof message.id !== 'number') {
      socket.close(1003, 'a request needs a numeric id');
      return;
    }
    const reply = { ...this.answer({ op: message.op, authorization: message.authorization, q: message.q }), id: message.id };
    socket.send(JSON.stringify(reply));
  }
}
