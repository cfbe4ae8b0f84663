/**
 * graphql-js's `subscribe`, with each source event executed once per (document, operation,
 * variables) however many subscriptions receive it.
 *
 * graphql-js executes a subscription's selection set against every event it pulls, per
 * subscription. With many clients watching the same topic (a dashboard open 10,000 times)
 * that is the same execution 10,000 times: the live services hand every subscriber of a topic
 * the same event object (see feature-live.service.ts), so the result of executing one
 * document with one set of variables against it is the same for all of them, and is kept in a
 * WeakMap on the event, dropped with it.
 *
 * Sharing is sound because nothing under a subscription field reads the context (keys and
 * roles are checked once, when the operation is admitted) and results are never mutated
 * after execution (graphql-ws serialises them). Events that are not objects are executed per
 * subscription, as graphql-js does. Documents are shared by identity: ws-security caches one
 * parsed document per query text, so the clients sending the same text share one.
 */
import { createSourceEventStream, execute, type DocumentNode, type ExecutionArgs, type ExecutionResult } from 'graphql';

type Result = ExecutionResult | Promise<ExecutionResult>;

/** event -> document -> operation name + variables (JSON) -> result */
const executed = new WeakMap<object, WeakMap<DocumentNode, Map<string, Result>>>();

function executeShared(args: ExecutionArgs, argsKey: string, event: unknown): Result {
  if (event === null || typeof event !== 'object') return execute({ ...args, rootValue: event });
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
  const result = execute({ ...args, rootValue: event }) as Result;
  byArgs.set(argsKey, result);
  return result;
}

/** Same contract as graphql-js `subscribe`: an ExecutionResult (errors) or an async iterator of them. */
export async function sharedSubscribe(args: ExecutionArgs): Promise<ExecutionResult | AsyncGenerator<ExecutionResult, void, void>> {
  const stream = await createSourceEventStream(args);
  if (!(Symbol.asyncIterator in stream)) return stream;
  const source = stream[Symbol.asyncIterator]();
  const argsKey = `${args.operationName ?? ''}\u0000${args.variableValues === undefined || args.variableValues === null ? '' : JSON.stringify(args.variableValues)}`;

  const map = (r: IteratorResult<unknown>): IteratorResult<ExecutionResult> | Promise<IteratorResult<ExecutionResult>> => {
    if (r.done) return { value: undefined, done: true };
    const result = executeShared(args, argsKey, r.value);
    return result instanceof Promise ? result.then((value) => ({ value, done: false })) : { value: result, done: false };
  };
  const close = async (): Promise<IteratorResult<ExecutionResult>> => {
    if (typeof source.return === 'function') await source.return();
    return { value: undefined, done: true };
  };
  const iterator: AsyncGenerator<ExecutionResult, void, void> = {
    next: () => source.next().then(map, async (err: unknown) => {
      await close();
      throw err;
    }),
    return: close as () => Promise<IteratorResult<ExecutionResult, void>>,
    throw: async (err: unknown) => {
      if (typeof source.throw === 'function') return await map(await source.throw(err));
      await close();
      throw err;
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  } as AsyncGenerator<ExecutionResult, void, void>;
  return iterator;
}
