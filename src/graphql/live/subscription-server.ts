/**
 * SubscriptionServer: GraphQL over WebSocket at /graphql — graphql-ws's protocol
 * (graphql-transport-ws) on a `ws` server of Tally's own that takes the HTTP server's
 * upgrades, with each subscription's `next` messages written from one serialisation per
 * result (next-frames.ts).
 *
 * It stands where @nestjs/graphql would put graphql-ws's `useServer`, and differs from it in
 * what a 10,000-subscriber fan-out pays for (the fan-out rows of BENCHMARKS.md):
 * - per message, graphql-ws runs an async loop per subscriber: an `onNext` await, one
 *   JSON.stringify of the whole message and one send promise. Here a subscription is a
 *   SubscriptionOperation (a NextFramePump): the shared frame of each result is written to
 *   the socket, with only the operation id spliced in;
 * - per subscription, graphql-ws keeps that loop suspended (its message handler, the emit
 *   closures, the message) for as long as the subscription lives. Here `subscribe` messages
 *   are handled by `subscribe()` below, which follows graphql-ws's own handling of them step
 *   by step (hooks, errors, `complete`, its records in `ctx.subscriptions`) and returns once
 *   the operation runs, leaving only the SubscriptionOperation;
 * - per connection: one keep-alive timer for every socket instead of one each, no upgrade
 *   request kept (`extra` carries the remote address), one copy of each query text, and the
 *   frame limit set where the ws server is made (`maxPayload`: 1009 above it).
 * Everything else is graphql-ws's `makeServer`: connection_init and its timeout, ack, ping and
 * pong, `complete` from the client, the close codes, and what happens when a socket closes.
 * With `sharedFrames: false` every message is graphql-ws's, the plain path that the protocol
 * tests (subscription-server.spec.ts) compare byte for byte with the shared one.
 */
import {
  execute as graphqlExecute,
  getOperationAST,
  GraphQLError,
  parse as graphqlParse,
  validate as graphqlValidate,
  type ExecutionArgs,
  type ExecutionResult,
} from 'graphql';
import {
  areGraphQLErrors,
  CloseCode,
  handleProtocols,
  makeServer,
  MessageType,
  stringifyMessage,
  validateMessage,
  type Context,
  type ServerOptions,
  type SubscribeMessage,
  type SubscribePayload,
} from 'graphql-ws';
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { pathOf } from '../../security/http-auth.js';
import { NextFramePump } from './next-frames.js';
import { executeWithExtensions, sharedSubscribe, type ResultExtensions } from './shared-subscribe.js';

/** What the hooks find in graphql-ws's `ctx.extra`. */
export interface Extra {
  socket: WebSocket;
  /** The client's address (of the TCP connection). */
  remoteAddress: string | undefined;
}

export type ConnectionParams = Record<string, unknown> | undefined;
export type WsContext = Context<ConnectionParams, Extra>;

/**
 * graphql-ws's server options this server takes: its hooks and settings. `execute`,
 * `subscribe` and `onOperation` are the server's own; JSON revivers and replacers are not
 * offered (a frame is written from the JSON of its result as it is).
 */
export type GraphqlWsHooks = Omit<ServerOptions<ConnectionParams, Extra>, 'execute' | 'subscribe' | 'onOperation' | 'jsonMessageReviver' | 'jsonMessageReplacer'>;

export interface SubscriptionServerOptions {
  /** URL path of the endpoint (an upgrade to any other path is answered 400, but for `otherPaths`). */
  path: string;
  /** Paths whose upgrades other listeners of the HTTP server take (the cluster's peer bus). */
  otherPaths?: ReadonlySet<string>;
  /** Largest frame (and message) accepted; a larger one closes the connection with 1009. */
  maxPayload: number;
  hooks: GraphqlWsHooks;
  /** Merged into every answer's `extensions` when it is executed (Health.staleExtensions). */
  extensions?: ResultExtensions;
  /** Ping period; a socket that has not answered the previous ping is cut. graphql-ws's default. */
  keepAliveMs?: number;
  /** false: graphql-ws handles every message itself (the plain path the shared frames are compared with). */
  sharedFrames?: boolean;
  /** Called with errors of sockets, of the server and of message handling. */
  onError?: (err: unknown, where: 'server' | 'socket' | 'message') => void;
}

/** graphql-ws's keep-alive period in useServer. */
const KEEP_ALIVE_MS = 12_000;
/** Distinct query texts kept as one copy (a dashboard's few queries, times its clients). */
const QUERY_TEXTS = 1_000;

/** The Connection of each open WebSocket, found by the listeners shared by all sockets. */
const connections = new WeakMap<WebSocket, Connection>();

/**
 * One WebSocket as graphql-ws's makeServer sees it (its `WebSocket` interface: protocol, send,
 * close, onMessage), what `opened()` answered, and graphql-ws's context once the client has
 * sent connection_init. Methods, not closures: the ws listeners are functions shared by every
 * socket (`this` is the socket).
 */
class Connection {
  readonly protocol: string;
  private handle: ((data: string) => Promise<void>) | undefined;
  closed: ((code?: number, reason?: string) => Promise<void>) | undefined;
  /** graphql-ws's context, from its onConnect hook on. */
  ctx: WsContext | undefined;

  constructor(
    readonly socket: WebSocket,
    readonly server: SubscriptionServer,
  ) {
    this.protocol = socket.protocol;
  }

  send(data: string): Promise<void> {
    const socket = this.socket;
    return new Promise<void>((resolve, reject) => {
      if (socket.readyState !== socket.OPEN) return resolve();
      socket.send(data, (err) => (err ? reject(err) : resolve()));
    });
  }

  close(code?: number, reason?: string): void {
    this.socket.close(code, reason);
  }

  onMessage(handle: (data: string) => Promise<void>): void {
    this.handle = handle;
  }

  received(data: RawData): void {
    const message = this.server.parse(data);
    if (this.ctx?.acknowledged && this.server.takesSubscribe(message)) this.server.subscribe(this, this.ctx, message).catch(this.failed);
    // graphql-ws's parseMessage takes a parsed message as it takes text (see SubscriptionServer.parse)
    else this.handle?.(message as string).catch(this.failed);
  }

  /** Handling a message failed inside graphql-ws, a hook or a send: as useServer, close with 1011. */
  readonly failed = (err: unknown): void => {
    this.server.reportError(err, 'message');
    this.socket.close(CloseCode.InternalServerError, 'Internal server error');
  };
}

function onSocketMessage(this: WebSocket, data: RawData): void {
  connections.get(this)?.received(data);
}

function onSocketError(this: WebSocket, err: Error): void {
  connections.get(this)?.server.reportError(err, 'socket');
  this.close(CloseCode.InternalServerError, 'Internal server error');
}

/**
 * A running subscription, as graphql-ws's `subscribe` handling would run it: results as shared
 * frames (NextFramePump); `complete` when they end, `error` when they fail, graphql-ws's hooks
 * around each; graphql-ws's record of it in `ctx.subscriptions[id]` until then.
 */
class SubscriptionOperation extends NextFramePump {
  constructor(
    private readonly connection: Connection,
    results: AsyncIterator<ExecutionResult>,
    id: string,
    private readonly ctx: WsContext,
    private readonly payload: SubscribePayload,
    private readonly args: ExecutionArgs,
  ) {
    super(connection.socket, results, id);
  }

  protected beforeNext(result: ExecutionResult): unknown {
    return this.connection.server.hooks.onNext?.(this.ctx, this.id, this.payload, this.args, result);
  }

  protected ended(): void {
    const { ctx, id } = this;
    const server = this.connection.server;
    server
      .emitComplete(this.connection, ctx, id, this.payload, (ctx.subscriptions as Record<string, unknown>)[id] === this)
      .finally(() => server.forget(ctx, id, this))
      .catch(this.connection.failed);
  }

  protected failed(err: unknown): void {
    const { ctx, id } = this;
    const server = this.connection.server;
    // graphql-ws: an error message with the failure's message, the record dropped, then complete (unsent)
    const original = err instanceof Error ? err : new Error(String(err));
    server
      .emitError(this.connection, ctx, id, this.payload, [new GraphQLError(original.message, { originalError: original })])
      .finally(() => server.forget(ctx, id, this))
      .then(() => server.emitComplete(this.connection, ctx, id, this.payload, false))
      .catch(this.connection.failed);
  }

  protected async returned(): Promise<void> {
    // graphql-ws ends its loop and calls onComplete; the client asked for the end, so nothing is sent
    await this.connection.server.hooks.onComplete?.(this.ctx, this.id, this.payload);
  }
}

export class SubscriptionServer {
  readonly hooks: GraphqlWsHooks;
  private readonly wss: WebSocketServer;
  private readonly graphqlWs: ReturnType<typeof makeServer<ConnectionParams, Extra>>;
  private readonly execute: (args: ExecutionArgs) => ExecutionResult | Promise<ExecutionResult>;
  private readonly subscribeTo: (args: ExecutionArgs) => Promise<ExecutionResult | AsyncIterable<ExecutionResult>>;
  private readonly sharedFrames: boolean;
  private readonly awaitingPong = new Set<WebSocket>();
  private readonly onPong: (this: WebSocket) => void;
  private readonly onClosed: (this: WebSocket, code: number, reason: Buffer) => void;
  private readonly queryTexts = new Map<string, string>();
  private keepAlive: NodeJS.Timeout | undefined;
  private http: HttpServer | undefined;

  constructor(private readonly options: SubscriptionServerOptions) {
    this.hooks = options.hooks;
    this.sharedFrames = options.sharedFrames !== false;
    this.wss = new WebSocketServer({ noServer: true, path: options.path, maxPayload: options.maxPayload, perMessageDeflate: false, handleProtocols });
    const { extensions } = options;
    this.execute = (args) => (extensions === undefined ? graphqlExecute(args) : executeWithExtensions(args, extensions));
    this.subscribeTo = (args) => sharedSubscribe(args, extensions);
    const onConnect = this.hooks.onConnect;
    this.graphqlWs = makeServer<ConnectionParams, Extra>({
      ...this.hooks,
      onConnect: (ctx) => {
        const connection = connections.get(ctx.extra.socket);
        if (connection !== undefined) connection.ctx = ctx;
        return onConnect?.(ctx);
      },
      execute: this.execute,
      subscribe: this.subscribeTo as ServerOptions['subscribe'],
    });
    const awaiting = this.awaitingPong;
    this.onPong = function (this: WebSocket) {
      awaiting.delete(this);
    };
    this.onClosed = function (this: WebSocket, code: number, reason: Buffer) {
      awaiting.delete(this);
      const connection = connections.get(this);
      connections.delete(this);
      void connection?.closed?.(code, String(reason));
    };
    this.wss.on('connection', (socket: WebSocket, request: IncomingMessage) => this.opened(socket, request));
    this.wss.once('error', (err) => {
      this.reportError(err, 'server');
      for (const client of this.wss.clients) client.close(CloseCode.InternalServerError, 'Internal server error');
    });
  }

  /** Takes the WebSocket upgrades of `http` and starts the keep-alive pings. */
  attach(http: HttpServer): void {
    this.http = http;
    http.on('upgrade', this.onUpgrade);
    const period = this.options.keepAliveMs ?? KEEP_ALIVE_MS;
    if (period > 0 && Number.isFinite(period)) this.keepAlive = setInterval(() => this.ping(), period).unref();
  }

  /** Closes every connection (1001, going away) and resolves once they are closed. */
  async close(): Promise<void> {
    this.http?.off('upgrade', this.onUpgrade);
    this.http = undefined;
    clearInterval(this.keepAlive);
    for (const client of this.wss.clients) client.close(1001, 'Going away');
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }

  reportError(err: unknown, where: 'server' | 'socket' | 'message'): void {
    this.options.onError?.(err, where);
  }

  /**
   * The message, parsed, when it is a JSON object (graphql-ws's parseMessage validates a parsed
   * message as it would the one it parses); its text otherwise, for graphql-ws to refuse
   * (4400) as it always has. A subscribe message's query text is swapped for the kept copy,
   * so that the operations of a dashboard's clients keep one.
   */
  parse(data: RawData): unknown {
    const text = String(data);
    let message: unknown;
    try {
      message = JSON.parse(text);
    } catch {
      return text;
    }
    if (message === null || typeof message !== 'object' || Array.isArray(message)) return text;
    const payload = (message as { payload?: { query?: unknown } }).payload;
    if (typeof payload === 'object' && payload !== null && typeof payload.query === 'string') payload.query = this.queryText(payload.query);
    return message;
  }

  /** True for a valid subscribe message, which `subscribe()` handles (with shared frames on). */
  takesSubscribe(message: unknown): message is SubscribeMessage {
    if (!this.sharedFrames || (message as { type?: unknown }).type !== MessageType.Subscribe) return false;
    try {
      validateMessage(message);
      return true;
    } catch {
      return false; // graphql-ws closes with 4400
    }
  }

  /**
   * A subscribe message of an acknowledged connection, handled as graphql-ws's makeServer
   * handles it (the same steps, hooks, messages and close codes, in the same order), except
   * that a subscription's results are left running in a SubscriptionOperation, and this
   * returns, instead of being iterated here for the subscription's lifetime.
   */
  async subscribe(connection: Connection, ctx: WsContext, message: SubscribeMessage): Promise<void> {
    const { id, payload } = message;
    const { schema, context, roots, parse, validate, onSubscribe } = this.hooks;
    if (id in ctx.subscriptions) return connection.close(CloseCode.SubscriberAlreadyExists, `Subscriber for ${id} already exists`);
    (ctx.subscriptions as Record<string, unknown>)[id] = null;
    let running = false;
    try {
      let args: ExecutionArgs;
      const argsOrErrors = await onSubscribe?.(ctx, id, payload);
      if (argsOrErrors) {
        if (areGraphQLErrors(argsOrErrors)) return id in ctx.subscriptions ? await this.emitError(connection, ctx, id, payload, argsOrErrors) : undefined;
        if (Array.isArray(argsOrErrors)) throw new Error('Invalid return value from onSubscribe hook, expected an array of GraphQLError objects');
        args = argsOrErrors as ExecutionArgs;
      } else {
        if (!schema) throw new Error('The GraphQL schema is not provided');
        const parsed = { operationName: payload.operationName, document: (parse ?? graphqlParse)(payload.query), variableValues: payload.variables };
        args = { ...parsed, schema: typeof schema === 'function' ? await schema(ctx, id, payload, parsed) : schema };
        const invalid = (validate ?? graphqlValidate)(args.schema, args.document);
        if (invalid.length > 0) return id in ctx.subscriptions ? await this.emitError(connection, ctx, id, payload, invalid) : undefined;
      }
      const ast = getOperationAST(args.document, args.operationName);
      if (!ast) return id in ctx.subscriptions ? await this.emitError(connection, ctx, id, payload, [new GraphQLError('Unable to identify operation')]) : undefined;
      if (!('rootValue' in args)) args.rootValue = roots?.[ast.operation];
      if (!('contextValue' in args)) args.contextValue = typeof context === 'function' ? await context(ctx, id, payload, args) : context;
      const result = ast.operation === 'subscription' ? await this.subscribeTo(args) : await this.execute(args);
      if (Symbol.asyncIterator in result) {
        const results = result[Symbol.asyncIterator]();
        if (id in ctx.subscriptions) {
          const operation = new SubscriptionOperation(connection, results, id, ctx, payload, args);
          (ctx.subscriptions as Record<string, unknown>)[id] = operation;
          running = true;
          operation.start();
          return;
        }
        void results.return?.(); // completed by the client meanwhile
      } else if (id in ctx.subscriptions) await this.emitNext(connection, ctx, id, payload, args, result);
      await this.emitComplete(connection, ctx, id, payload, id in ctx.subscriptions);
    } finally {
      if (!running) delete (ctx.subscriptions as Record<string, unknown>)[id];
    }
  }

  /** graphql-ws's `next` message of a result that is not a stream (a query or mutation over the socket). */
  private async emitNext(connection: Connection, ctx: WsContext, id: string, payload: SubscribePayload, args: ExecutionArgs, result: ExecutionResult): Promise<void> {
    const { errors, ...withoutErrors } = result;
    const replaced = await this.hooks.onNext?.(ctx, id, payload, args, result);
    await connection.send(stringifyMessage({ id, type: MessageType.Next, payload: replaced || { ...withoutErrors, ...(errors ? { errors: errors.map((e) => e.toJSON()) } : {}) } }));
  }

  /** graphql-ws's `error` message, after its onError hook. */
  async emitError(connection: Connection, ctx: WsContext, id: string, payload: SubscribePayload, errors: readonly GraphQLError[]): Promise<void> {
    const replaced = await this.hooks.onError?.(ctx, id, payload, errors);
    await connection.send(stringifyMessage({ id, type: MessageType.Error, payload: replaced || errors.map((e) => e.toJSON()) }));
  }

  /** graphql-ws's onComplete hook, then its `complete` message when the client is to be told. */
  async emitComplete(connection: Connection, ctx: WsContext, id: string, payload: SubscribePayload, notifyClient: boolean): Promise<void> {
    await this.hooks.onComplete?.(ctx, id, payload);
    if (notifyClient) await connection.send(stringifyMessage({ id, type: MessageType.Complete }));
  }

  /** Drops graphql-ws's record of an operation that ended, if it is still this one's. */
  forget(ctx: WsContext, id: string, operation: SubscriptionOperation): void {
    if ((ctx.subscriptions as Record<string, unknown>)[id] === operation) delete (ctx.subscriptions as Record<string, unknown>)[id];
  }

  private readonly onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer): void => {
    if (this.options.otherPaths?.has(pathOf(request))) return;
    this.wss.handleUpgrade(request, socket, head, (ws) => this.wss.emit('connection', ws, request));
  };

  /** One connection, as graphql-ws's useServer opens it. */
  private opened(socket: WebSocket, request: IncomingMessage): void {
    const connection = new Connection(socket, this);
    connections.set(socket, connection);
    socket.on('error', onSocketError);
    socket.on('pong', this.onPong);
    socket.on('message', onSocketMessage);
    socket.on('close', this.onClosed);
    connection.closed = this.graphqlWs.opened(connection, { socket, remoteAddress: request.socket.remoteAddress });
  }

  private queryText(text: string): string {
    const kept = this.queryTexts.get(text);
    if (kept !== undefined) return kept;
    if (this.queryTexts.size >= QUERY_TEXTS) this.queryTexts.delete(this.queryTexts.keys().next().value!);
    this.queryTexts.set(text, text);
    return text;
  }

  /** Pings every open socket; one that has not answered the previous ping is cut (as useServer does). */
  private ping(): void {
    for (const socket of this.wss.clients) {
      if (socket.readyState !== socket.OPEN) continue;
      if (this.awaitingPong.has(socket)) {
        socket.terminate();
        continue;
      }
      this.awaitingPong.add(socket);
      socket.ping();
    }
  }
}
