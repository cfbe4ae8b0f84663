/**
 * graphql-js's `subscribe`, with each source event executed once per (document, operation,
 * variables) however many subscriptions receive it, and the answer's `extensions` (the stale
 * flag) decided at that one execution.
 *
 * graphql-js executes a subscription's selection set against every event it pulls, per
 * subscription. With many clients watching the same topic (a dashboard open 10,000 times)
 * that is the same execution 10,000 times: the live services hand every subscriber of a topic
 * the same event object (see feature-live.service.ts), so the result of executing one
 * document with one set of variables against it is the same for all of them, and is kept in a
 * WeakMap on the event, dropped with it. Being one object, it is also serialised once
 * (next-frames.ts keeps its bytes in a WeakMap on the result).
 *
 * Sharing is sound because nothing under a subscription field reads the context (keys and
 * roles are checked once, when the operation is admitted) and results are never mutated
 * after execution. Events that are not objects are executed per subscription, as graphql-js
 * does. Documents are shared by identity: ws-security caches one parsed document per query
 * text, so the clients sending the same text share one.
 *
 * Extensions: while Tally restores, catches up or cannot read Kafka, HTTP answers carry
 * `extensions.stale: true` (stale.plugin.ts); `extensions` here is the same source
 * (Health.staleExtensions), asked when an event is executed, so every subscriber of that
 * event gets the same flag — one health state per event — and the first event executed after
 * Tally is ready again has no `stale` key.
 */
import { createSourceEventStream, execute, type DocumentNode, type ExecutionArgs, type ExecutionResult } from 'graphql';
import { isPullable, type Consumer } from './coalescing-queue.js';

type Result = ExecutionResult | Promise<ExecutionResult>;

/** What an answer carries under `extensions` at the time it is executed; undefined = nothing. */
export type ResultExtensions = () => Readonly<Record<string, unknown>> | undefined;

/** event -> document -> operation name + variables (JSON) -> result */
const executed = new WeakMap<object, WeakMap<DocumentNode, Map<string, Result>>>();

/** `result` with `extra` merged into its extensions (a new object; results are shared, never mutated). */
export function withExtensions(result: ExecutionResult, extra: Readonly<Record<string, unknown>> | undefined): ExecutionResult {
  return extra === undefined ? result : { ...result, extensions: { ...result.extensions, ...extra } };
}

/** graphql-js `execute`, with `extensions()` merged into the answer. */
export function executeWithExtensions(args: ExecutionArgs, extensions: ResultExtensions | undefined): Result {
  const result = execute(args) as Result;
  const extra = extensions?.();
  if (extra === undefined) return result;
  return result instanceof Promise ? result.then((r) => withExtensions(r, extra)) : withExtensions(result, extra);
}

function executeShared(args: ExecutionArgs, argsKey: string, event: unknown, extensions: ResultExtensions | undefined): Result {
  if (event === null || typeof event !== 'object') return executeWithExtensions({ ...args, rootValue: event }, extensions);
  let byDocument = executed.get(event);
  if (byDocument === undefined) {
    byDocument = new WeakMap();
    executed.set(event, byDocument);
  }
  let byArgs = byDocument.get(args.document);
  if (byArgs === undefined) {
    byArgs = new Map();
    byDocument.set(args.document, byArgs);
  }
  const cached = byArgs.get(argsKey);
  if (cached !== undefined) return cached;
  const result = executeWithExtensions({ ...args, rootValue: event }, extensions);
  byArgs.set(argsKey, result);
  return result;
}

/** A Consumer that is also told when the results fail (an execution that rejected). */
export interface ResultConsumer extends Consumer<ExecutionResult> {
  fail(err: unknown): void;
}

/**
 * One subscription's results: pulls the source event stream and maps each event to its
 * shared result. Consumed as an async iterator, or with `pull(consumer)` when its source is
 * Pullable (a CoalescingQueue): then no promise is made per result and no closure is kept per
 * subscription. A class rather than closures, because 10,000 subscriptions hold 10,000 of
 * these (see the heap row of the fan-out benchmark).
 */
export class SharedEventStream implements AsyncIterableIterator<ExecutionResult>, Consumer<unknown> {
  private consumer: ResultConsumer | undefined;

  constructor(
    private readonly args: ExecutionArgs,
    private readonly source: AsyncIterator<unknown>,
    private readonly argsKey: string,
    private readonly extensions: ResultExtensions | undefined,
  ) {}

  next(): Promise<IteratorResult<ExecutionResult>> {
    return this.source.next().then(
      (r) => {
        if (r.done) return { value: undefined, done: true };
        const result = executeShared(this.args, this.argsKey, r.value, this.extensions);
        return result instanceof Promise ? result.then((value) => ({ value, done: false })) : { value: result, done: false };
      },
      async (err: unknown) => {
        await this.return();
        throw err;
      },
    );
  }

  /** Hands the next result to `consumer` (deliver, end or fail); one pull at a time. */
  pull(consumer: ResultConsumer): void {
    if (isPullable<unknown>(this.source)) {
      this.consumer = consumer;
      this.source.pull(this);
      return;
    }
    this.next().then(
      (r) => (r.done ? consumer.end() : consumer.deliver(r.value)),
      (err: unknown) => consumer.fail(err),
    );
  }

  /** From the source: executes `event` (or takes its shared result) for the consumer. */
  deliver(event: unknown): void {
    const consumer = this.consumer!;
    let result: Result;
    try {
      result = executeShared(this.args, this.argsKey, event, this.extensions);
    } catch (err) {
      consumer.fail(err);
      return;
    }
    if (result instanceof Promise) result.then((r) => consumer.deliver(r), (err: unknown) => consumer.fail(err));
    else consumer.deliver(result);
  }

  /** From the source: it is closed. */
  end(): void {
    this.consumer?.end();
  }

  async return(): Promise<IteratorResult<ExecutionResult>> {
    if (typeof this.source.return === 'function') await this.source.return();
    return { value: undefined, done: true };
  }

  async throw(err: unknown): Promise<IteratorResult<ExecutionResult>> {
    await this.return();
    throw err;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}

/**
 * Same contract as graphql-js `subscribe`: an ExecutionResult (errors) or an async iterator of
 * results; `extensions` is merged into each result when its event is executed.
 */
export async function sharedSubscribe(args: ExecutionArgs, extensions?: ResultExtensions): Promise<ExecutionResult | SharedEventStream> {
  const stream = await createSourceEventStream(args);
  if (!(Symbol.asyncIterator in stream)) return stream;
  const argsKey = `${args.operationName ?? ''}\u0000${args.variableValues === undefined || args.variableValues === null ? '' : JSON.stringify(args.variableValues)}`;
  return new SharedEventStream(args, stream[Symbol.asyncIterator](), argsKey, extensions);
}
