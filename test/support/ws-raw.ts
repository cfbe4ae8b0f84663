// A bare graphql-ws (graphql-transport-ws) client over `ws`, for tests that need to see
// protocol details a full client hides: close codes, a missing or second connection_init,
// oversized frames, a client that stops reading.
import WebSocket from 'ws';

export interface Closed {
  code: number;
  reason: string;
}

export interface Message {
  type: string;
  id?: string;
  payload?: unknown;
}

export class RawWs {
  readonly messages: Message[] = [];
  readonly closed: Promise<Closed>;
  private waiters: (() => void)[] = [];
  private closedWith: Closed | undefined;

  private constructor(readonly socket: WebSocket) {
    socket.on('message', (data) => {
      this.messages.push(JSON.parse(String(data)) as Message);
      this.wake();
    });
    this.closed = new Promise((resolve) => {
      socket.on('close', (code, reason) => {
        this.closedWith = { code, reason: String(reason) };
        resolve(this.closedWith);
        this.wake();
      });
    });
    socket.on('error', () => {}); // surfaces as a close
  }

  /** Opens a socket on `url` (http://...) at /graphql with the graphql-transport-ws subprotocol. */
  static open(url: string, protocol = 'graphql-transport-ws'): Promise<RawWs> {
    const socket = new WebSocket(`${url.replace(/^http/, 'ws')}/graphql`, protocol);
    return new Promise((resolve, reject) => {
      socket.once('open', () => resolve(new RawWs(socket)));
      socket.once('error', reject);
    });
  }

  send(message: Message | string): void {
    this.socket.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  /** Sends connection_init; resolves 'ack', or the close that answered it. */
  async init(payload?: Record<string, unknown>): Promise<'ack' | Closed> {
    this.send({ type: 'connection_init', payload });
    const m = await this.next((m) => m.type === 'connection_ack');
    return m ? 'ack' : this.closedWith!;
  }

  /** Sends a subscribe message (any operation type) with id `id`. */
  subscribe(id: string, query: string, variables?: Record<string, unknown>): void {
    this.send({ id, type: 'subscribe', payload: { query, variables } });
  }

  /** The first message of operation `id` that is next, error or complete; undefined if the socket closed first. */
  result(id: string, timeoutMs?: number): Promise<Message | undefined> {
    return this.next((m) => m.id === id && ['next', 'error', 'complete'].includes(m.type), timeoutMs);
  }

  /** Waits for the first message matching `match` (seen or coming); undefined when the socket closes first. */
  async next(match: (m: Message) => boolean, timeoutMs = 15_000): Promise<Message | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.messages.find(match);
      if (found) return found;
      if (this.closedWith) return undefined;
      if (Date.now() > deadline) throw new Error(`no matching message within ${timeoutMs} ms; got ${JSON.stringify(this.messages).slice(0, 500)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.waiters.push(() => (clearTimeout(timer), resolve()));
      });
    }
  }

  close(): void {
    this.socket.terminate();
  }

  private wake(): void {
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w();
  }
}
