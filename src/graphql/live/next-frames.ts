/**
 * graphql-ws `next` messages written from one serialisation per result.
 *
 * graphql-ws sends each result of a subscription as `{"id":"<id>","type":"next","payload":
 * <result>}`, stringifying the whole message for every subscriber. Subscribers of the same
 * (document, variables) receive the same result object (shared-subscribe.ts), so the payload
 * part is the same bytes for all of them: it is serialised once, into one Buffer kept in a
 * WeakMap on the result (`payloadBytes`), and each subscriber writes
 *
 *     [WebSocket frame header + `{"id":<id>,"type":"next","payload":`]  [shared `<result>}`]
 *
 * the first part built once per subscription (and again only when the payload length
 * changes), the second shared by every subscriber: one writev of two buffers, as ws itself
 * writes a frame. The message is the one graphql-ws's own `next` path sends for the result
 * (`nextPayload` reproduces its payload, key order included); the protocol tests
 * (subscription-server.spec.ts) compare the frames of both paths byte for byte.
 *
 * NextFramePump drives one subscription: it pulls the results (without a promise per result,
 * see coalescing-queue.ts), writes each frame, and pulls the next only once the previous frame
 * was handed to the kernel — graphql-ws's own pacing, on which the slow-consumer bounds rely
 * (ws-security.ts). subscription-server.ts runs one per subscription, in place of graphql-ws's
 * per-subscriber loop.
 */
import type { ExecutionResult } from 'graphql';
import { MessageType, stringifyMessage } from 'graphql-ws';
import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import { isPullable, type Pullable } from './coalescing-queue.js';
import type { ResultConsumer } from './shared-subscribe.js';

/** The serialised payload of each result written so far, with the closing `}` of the message. */
const payloads = new WeakMap<object, Buffer>();

/**
 * The payload graphql-ws sends for `result` when no hook replaces it: the result with its
 * errors, if any, last and as their toJSON() (graphql-ws's `emit.next`, to the key order).
 */
export function nextPayload(result: ExecutionResult): Record<string, unknown> {
  const { errors, ...withoutErrors } = result;
  return errors ? { ...withoutErrors, errors: errors.map((e) => e.toJSON()) } : withoutErrors;
}

/** The JSON of nextPayload(result) followed by `}`, as UTF-8: the shared tail of every `next` frame of `result`. */
export function payloadBytes(result: ExecutionResult): Buffer {
  let bytes = payloads.get(result);
  if (bytes === undefined) {
    bytes = Buffer.from(`${JSON.stringify(nextPayload(result))}}`);
    payloads.set(result, bytes);
  }
  return bytes;
}

/** The first bytes of a `next` message of operation `id`, up to its payload. */
export function messageHead(id: string): Buffer {
  return Buffer.from(`{"id":${JSON.stringify(id)},"type":"next","payload":`);
}

/** Bytes of the header of an unmasked, unfragmented text frame (RFC 6455 5.2) of `length` payload bytes. */
function frameHeaderLength(length: number): number {
  return length <= 125 ? 2 : length <= 0xffff ? 4 : 10;
}

/** Writes the header of an unmasked, final text frame of `length` bytes into `out` at 0; returns its length. */
function writeFrameHeader(out: Buffer, length: number): number {
  out[0] = 0x81; // FIN, opcode 1 (text)
  if (length <= 125) {
    out[1] = length;
    return 2;
  }
  if (length <= 0xffff) {
    out[1] = 126;
    out.writeUInt16BE(length, 2);
    return 4;
  }
  out[1] = 127;
  out.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
  out.writeUInt32BE(length >>> 0, 6);
  return 10;
}

/**
 * The TCP socket under a `ws` WebSocket, when frames may be written to it directly: an open
 * socket with no extension negotiated (no permessage-deflate: Tally's server offers none), so
 * a frame is exactly header + payload. Otherwise undefined, and frames go through ws.send.
 * ws keeps this socket in `_socket` (since ws 1); writing a whole frame between cork and
 * uncork cannot interleave with ws's own frames, which it writes the same way.
 */
function rawSocketOf(socket: WebSocket): Duplex | undefined {
  const raw = (socket as unknown as { _socket?: Duplex })._socket;
  if (raw === undefined || raw === null || typeof raw.cork !== 'function') return undefined;
  if (Object.keys(socket.extensions ?? {}).length > 0) return undefined; // negotiated at the handshake, never after
  return raw;
}

/**
 * One subscription's `next` frames, written from the shared serialisation of each result.
 * It pulls the results (a SharedEventStream, without a promise per result), calls
 * `beforeNext` (graphql-ws's onNext hook), writes the frame, and pulls the next result once
 * the frame was handed to the kernel. What the protocol says about the operation — complete,
 * error, the hooks — is the subclass's (subscription-server.ts); as graphql-ws's record of a
 * running operation (`ctx.subscriptions[id]`) it is an async generator to graphql-ws, whose
 * `return()` stops it when the client completes the operation or the socket closes. It holds
 * no closure but the write callback: 10,000 subscriptions hold 10,000 of these.
 */
export abstract class NextFramePump implements ResultConsumer {
  private closed = false;
  /** WebSocket frame header + messageHead(id), for payloads of `framedLength` bytes. */
  private framed: Buffer | undefined;
  private framedLength = -1;
  /** The TCP socket frames are written to (rawSocketOf, looked up at the first frame); null: through ws.send. */
  private raw: Duplex | null | undefined;

  /**
   * @param socket the subscriber's WebSocket
   * @param results the operation's results (a SharedEventStream: shared objects, pulled without promises)
   * @param id the operation id (any string graphql-ws accepts; JSON-escaped in the frame)
   */
  constructor(
    protected readonly socket: WebSocket,
    private readonly results: AsyncIterator<ExecutionResult> | (AsyncIterator<ExecutionResult> & Pullable<ExecutionResult>),
    readonly id: string,
  ) {}

  /**
   * Before each result, as graphql-ws calls its onNext hook, and read as graphql-ws reads what
   * that returns: nothing (or a falsy value) sends the result, from its shared frame; a value
   * is sent instead of it, stringified as graphql-ws would.
   */
  protected abstract beforeNext(result: ExecutionResult): unknown;
  /** The results ended (by themselves). */
  protected abstract ended(): void;
  /** The results failed, or a frame could not be written; the results are closed. */
  protected abstract failed(err: unknown): void;
  /** Stopped by return() (the client completed the operation, or the socket closed). */
  protected abstract returned(): Promise<void> | void;

  /** Starts pulling and writing. */
  start(): void {
    this.pull();
  }

  /** Stops and closes the results (graphql-ws calls it as an async generator's return). */
  async return(): Promise<IteratorResult<never, undefined>> {
    if (!this.closed) {
      this.closed = true;
      try {
        await this.results.return?.();
      } finally {
        await this.returned();
      }
    }
    return { value: undefined, done: true };
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  /**
   * A result to send (from the results' pull). Never throws: it runs inside the release of
   * every queue of a tick (coalescing-queue.ts); a failure fails this operation only, as a
   * throwing hook or send fails graphql-ws's loop of that operation.
   */
  deliver(result: ExecutionResult): void {
    if (this.closed) return;
    try {
      const replaced = this.beforeNext(result);
      if (replaced instanceof Promise) replaced.then((v) => this.send(result, v), (err: unknown) => this.fail(err));
      else this.write(result, replaced);
    } catch (err) {
      this.fail(err);
    }
  }

  /** From the results: they ended. */
  end(): void {
    if (this.closed) return;
    this.closed = true;
    this.ended();
  }

  /** From the results: they failed. */
  fail(err: unknown): void {
    if (this.closed) return;
    this.closed = true;
    Promise.resolve(this.results.return?.())
      .catch(() => undefined)
      .then(() => this.failed(err));
  }

  private pull(): void {
    if (isPullable<ExecutionResult>(this.results)) this.results.pull(this);
    else
      this.results.next().then(
        (r) => (r.done ? this.end() : this.deliver(r.value)),
        (err: unknown) => this.fail(err),
      );
  }

  private readonly onWritten = (err?: Error | null): void => {
    if (err) this.fail(err);
    else if (!this.closed) this.pull();
  };

  private send(result: ExecutionResult, replaced: unknown): void {
    try {
      this.write(result, replaced);
    } catch (err) {
      this.fail(err);
    }
  }

  /** Writes the frame of `result`, or of `replaced` (what the hook returned instead) the way graphql-ws would. */
  private write(result: ExecutionResult, replaced: unknown): void {
    if (this.closed) return;
    // Closing (a client gone, or dropped by the hook): the socket's close handler ends this operation.
    if (this.socket.readyState !== this.socket.OPEN) return;
    if (replaced) {
      this.socket.send(stringifyMessage({ id: this.id, type: MessageType.Next, payload: replaced as ExecutionResult }), this.onWritten);
      return;
    }
    const payload = payloadBytes(result);
    if (this.raw === undefined) this.raw = rawSocketOf(this.socket) ?? null;
    const raw = this.raw;
    if (raw === null) {
      this.socket.send(Buffer.concat([messageHead(this.id), payload]), { binary: false }, this.onWritten);
      return;
    }
    if (this.framedLength !== payload.length) {
      const head = messageHead(this.id);
      const length = head.length + payload.length;
      const framed = Buffer.allocUnsafe(frameHeaderLength(length) + head.length);
      head.copy(framed, writeFrameHeader(framed, length));
      this.framed = framed;
      this.framedLength = payload.length;
    }
    raw.cork();
    raw.write(this.framed);
    raw.write(payload, this.onWritten);
    raw.uncork();
  }
}
