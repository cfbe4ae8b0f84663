/**
 * The WebSocket side of security: the graphql-ws hooks of Tally's WebSocket endpoint
 * (src/graphql/live/subscription-server.ts) and the limits of its ws server.
 *
 * - connection_init carries `{ authorization: "Bearer <key>" }`: a missing or unknown key
 *   closes with 4401; a key already holding TALLY_WS_MAX_CONNECTIONS_PER_KEY connections
 *   closes with 1013 (try again later). No init within TALLY_WS_INIT_TIMEOUT closes with
 *   4408 and a second init with 4429 (both graphql-ws itself).
 * - every subscribe (subscriptions, and queries or mutations sent over the socket) passes
 *   the same OperationGate as HTTP, plus the standard validation (with introspection refused
 *   in production) and a cap of TALLY_WS_MAX_SUBSCRIPTIONS live operations per connection;
 *   a refusal is an `error` message for that operation, the connection stays.
 * - frames above MAX_FRAME_BYTES close the connection (1009, by ws).
 * - slow consumers: an operation's next message is sent only after the previous one was
 *   handed to the kernel (by graphql-ws, or by the shared-frame pump of a subscription,
 *   which calls onNext as graphql-ws does), and meanwhile its CoalescingQueue merges or drops updates
 *   (counted), so a client that does not read holds at most one message per operation in
 *   Tally's buffers. A connection whose buffered bytes exceed MAX_BUFFERED_BYTES, or have
 *   not drained for TALLY_WS_SLOW_CONSUMER_TIMEOUT, is dropped.
 */
import { GraphQLError, getOperationAST, type DocumentNode, NoSchemaIntrospectionCustomRule, parse, specifiedRules, validate, type GraphQLSchema, type ValidationRule } from 'graphql';
import { PEER_SECRET_PARAM } from '../../cluster/follow.js';
import { PEER_CONTEXT } from '../cluster/request-context.js';
import type { Logger } from '../../ops/logger.js';
import type { Metrics } from '../../ops/metrics.js';
import type { ApiKeys, Principal } from '../../security/api-keys.js';
import type { Limits } from '../../settings/limits.js';
import { queueTotals } from '../live/coalescing-queue.js';
import type { GraphqlWsHooks, WsContext } from '../live/subscription-server.js';
import { isTokenLimitError, tokenLimitError } from './document-limits.js';
import type { OperationGate } from './operation-gate.js';

/** Largest WebSocket frame (and message) accepted: a subscribe message is a small document. */
export const MAX_FRAME_BYTES = 64 * 1024;
/** Bytes waiting in one connection's send buffer beyond which it is dropped at the next message. */
export const MAX_BUFFERED_BYTES = 1024 * 1024;

/** Query texts whose parsed, screened and validated document is kept (see `documents`). */
const DOCUMENT_CACHE_SIZE = 1_000;

/** Close codes Tally uses besides graphql-ws's own (4400-4499). */
export const CLOSE = { unauthorized: 4401, tooManyConnections: 1013 } as const;

/** What the hooks use of the WebSocket in `ctx.extra`. */
interface Socket {
  readonly bufferedAmount: number;
  close(code?: number, reason?: string): void;
  terminate(): void;
}

interface Connection {
  principal: Principal;
  /** Messages handed to the socket so far (each after the previous one of its operation was sent). */
  sent: number;
  /** Since when the send buffer has held bytes with no message sent; undefined when moving. */
  stalledSince?: number;
  sentAtStall: number;
  /**
   * Ids of the operations admitted on this connection that may still run. graphql-ws keeps an
   * operation in ctx.subscriptions until it ends, refused ones too while their error is being
   * sent; only the admitted ones count against TALLY_WS_MAX_SUBSCRIPTIONS. An array (most
   * connections run one operation: 56 bytes, where a Set takes about 200).
   */
  operations: string[];
}

/** The principal of a cluster peer's connection (see WsSecurity.isPeer). */
const PEER: Principal = { id: 'cluster-peer', role: 'reader' };

export class WsSecurity {
  private readonly connections = new Map<Socket, Connection>();
  private readonly perKey = new Map<string, number>();
  private readonly rules: readonly ValidationRule[];
  /**
   * Query text -> its document, once parsed, screened and validated: clients of one dashboard
   * send the same text, and sharing the document both saves the work and lets
   * sharedSubscribe execute each event once for all of them. Only documents that passed are
   * kept (refusals are counted each time); the oldest entry goes first.
   */
  private readonly documents = new Map<string, DocumentNode>();
  private timer: NodeJS.Timeout | undefined;
  /**
   * In a cluster: true when a connection_init's peer secret is the cluster's. A peer (another
   * member following an entity it does not own, src/cluster/follow.ts) reads as a reader and
   * multiplexes every entity it follows on one connection, so the per-connection operation
   * limit does not apply to it.
   */
  isPeer: ((given: unknown) => boolean) | undefined;
  private reported = { coalesced: queueTotals.coalesced, dropped: queueTotals.dropped };

  constructor(
    private readonly keys: ApiKeys,
    private readonly gate: OperationGate,
    private readonly limits: Limits,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    private readonly schema: () => GraphQLSchema,
    production = process.env.NODE_ENV === 'production',
  ) {
    this.rules = production ? [...specifiedRules, NoSchemaIntrospectionCustomRule] : specifiedRules;
    metrics.onCollect(() => this.collect());
  }

  /** The graphql-ws hooks of the WebSocket endpoint. */
  hooks(): GraphqlWsHooks {
    return {
      connectionInitWaitTimeout: this.limits.wsInitTimeoutMs,
      onConnect: (ctx) => this.onConnect(ctx),
      onSubscribe: (ctx, id, payload) => this.onSubscribe(ctx, id, payload),
      // Returns nothing: the result is sent as it is, from its shared frame for a subscription.
      onNext: (ctx) => this.onNext(ctx),
      onClose: (ctx) => this.onClose(ctx),
    };
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private onConnect(ctx: WsContext): boolean {
    const { socket, remoteAddress } = ctx.extra;
    const params = ctx.connectionParams ?? {};
    const peer = params[PEER_SECRET_PARAM];
    if (peer !== undefined && !this.isPeer?.(peer)) {
      this.gate.refused('ws', 'unauthenticated');
      socket.close(CLOSE.unauthorized, `${PEER_SECRET_PARAM}: not this cluster's secret`);
      return false;
    }
    const auth = peer !== undefined ? { ok: true as const, principal: PEER } : this.keys.authenticate(params.authorization ?? params.Authorization, remoteAddress);
    if (!auth.ok) {
      this.gate.refused('ws', 'unauthenticated');
      socket.close(CLOSE.unauthorized, auth.message);
      return false; // graphql-ws would close with 4403; the socket is already closing with 4401
    }
    const { principal } = auth;
    const open = this.perKey.get(principal.id) ?? 0;
    if (open >= this.limits.wsMaxConnectionsPerKey) {
      this.gate.refused('ws', 'too-many-connections');
      socket.close(CLOSE.tooManyConnections, `this key already has ${open} connections; at most ${this.limits.wsMaxConnectionsPerKey}`);
      return false;
    }
    this.perKey.set(principal.id, open + 1);
    this.connections.set(socket, { principal, sent: 0, sentAtStall: 0, operations: [] });
    this.metrics.wsConnections.set(this.connections.size);
    this.timer ??= setInterval(() => this.checkStalls(Date.now()), Math.max(10, Math.min(1_000, this.limits.wsSlowConsumerTimeoutMs / 4))).unref();
    return true;
  }

  private onSubscribe(ctx: WsContext, id: string, payload: { query: string; operationName?: string | null; variables?: Record<string, unknown> | null }) {
    const connection = this.connections.get(ctx.extra.socket);
    if (connection === undefined) return [new GraphQLError('not authenticated', { extensions: { code: 'UNAUTHENTICATED' } })];
    const live = liveOperations(connection.operations, id, ctx.subscriptions);
    if (live >= this.limits.wsMaxSubscriptions && connection.principal !== PEER) {
      this.gate.refused('ws', 'too-many-subscriptions');
      return [new GraphQLError(`this connection already runs ${live} operations; at most ${this.limits.wsMaxSubscriptions}`, { extensions: { code: 'TOO_MANY_SUBSCRIPTIONS' } })];
    }
    const schema = this.schema();
    let document = this.documents.get(payload.query);
    if (document === undefined) {
      try {
        document = parse(payload.query, { maxTokens: this.limits.maxTokens });
      } catch (err) {
        if (isTokenLimitError(err)) {
          this.gate.refused('ws', 'too-many-tokens');
          return [tokenLimitError(err)];
        }
        return [err instanceof GraphQLError ? err : new GraphQLError(`Syntax Error: ${(err as Error).message}`)];
      }
      const structural = this.gate.screen(document, 'ws');
      if (structural.length > 0) return structural;
      const invalid = validate(schema, document, this.rules);
      if (invalid.length > 0) return invalid;
      if (this.documents.size >= DOCUMENT_CACHE_SIZE) this.documents.delete(this.documents.keys().next().value!);
      this.documents.set(payload.query, document);
    }
    const operation = getOperationAST(document, payload.operationName);
    if (!operation) return [new GraphQLError('Unable to identify operation')];
    const variables = payload.variables ?? undefined;
    const refusal = this.gate.admit(connection.principal, schema, document, operation, variables, 'ws');
    if (refusal) return [refusal];
    if (connection.operations.length === 0) connection.operations = [id];
    else connection.operations.push(id);
    const args = { schema, document, operationName: payload.operationName, variableValues: variables };
    // A peer's subscription is answered from this member's own partitions (see PEER_CONTEXT).
    return connection.principal === PEER ? { ...args, contextValue: PEER_CONTEXT } : args;
  }

  private onNext(ctx: WsContext): void {
    const socket = ctx.extra.socket;
    const c = this.connections.get(socket);
    if (c) c.sent++;
    if (socket.bufferedAmount > MAX_BUFFERED_BYTES) this.drop(socket, `${socket.bufferedAmount} bytes waiting to be read`);
  }

  private onClose(ctx: WsContext): void {
    const connection = this.connections.get(ctx.extra.socket);
    if (connection === undefined) return;
    this.connections.delete(ctx.extra.socket);
    const open = (this.perKey.get(connection.principal.id) ?? 1) - 1;
    if (open > 0) this.perKey.set(connection.principal.id, open);
    else this.perKey.delete(connection.principal.id);
    this.metrics.wsConnections.set(this.connections.size);
    if (this.connections.size === 0) this.stop();
  }

  /**
   * Drops connections that made no progress for the slow-consumer timeout: bytes waiting in
   * the send buffer at every check and no message sent since (a client that reads slowly
   * still lets a message through now and then; one that reads nothing does not).
   */
  private checkStalls(now: number): void {
    for (const [socket, c] of this.connections) {
      if (socket.bufferedAmount === 0) c.stalledSince = undefined;
      else if (c.stalledSince === undefined || c.sent !== c.sentAtStall) {
        c.stalledSince = now;
        c.sentAtStall = c.sent;
      } else if (now - c.stalledSince >= this.limits.wsSlowConsumerTimeoutMs) this.drop(socket, `${socket.bufferedAmount} bytes unread for ${now - c.stalledSince} ms`);
    }
  }

  private drop(socket: Socket, why: string): void {
    const c = this.connections.get(socket);
    this.metrics.wsSlowConsumers.inc();
    this.log.warn({ key: c?.principal.id, why }, 'slow WebSocket consumer dropped');
    // The client reads nothing, so a close frame would wait behind the rest: cut the socket.
    socket.terminate();
  }

  private collect(): void {
    this.metrics.subscriptionCoalesced.inc(queueTotals.coalesced - this.reported.coalesced);
    this.metrics.subscriptionDropped.inc(queueTotals.dropped - this.reported.dropped);
    this.reported = { coalesced: queueTotals.coalesced, dropped: queueTotals.dropped };
  }
}

/**
 * How many admitted operations of a connection still run, before deciding on operation `id`:
 * forgets those graphql-ws no longer holds (it removes an operation from `subscriptions` when
 * it ends, however it ends) and `id` itself (graphql-ws has just registered it; a client may
 * reuse the id of an operation that ended).
 */
export function liveOperations(admitted: string[], id: string, subscriptions: Readonly<Record<string, unknown>>): number {
  let live = 0;
  for (const op of admitted) if (op !== id && Object.hasOwn(subscriptions, op)) admitted[live++] = op;
  admitted.length = live;
  return live;
}
