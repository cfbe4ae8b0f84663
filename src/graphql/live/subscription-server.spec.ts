import { createGraphiQLFetcher } from '@graphiql/toolkit';
import { buildSchema, GraphQLError, GraphQLScalarType, parse, type DocumentNode, type ExecutionResult, type GraphQLSchema } from 'graphql';
import { createClient, MessageType, stringifyMessage, type Client } from 'graphql-ws';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import WebSocket from 'ws';
import { CoalescingQueue } from './coalescing-queue.js';
import { SubscriptionServer, type GraphqlWsHooks } from './subscription-server.js';

// The shared-frame path against graphql-ws's own: two SubscriptionServers, one writing shared
// frames and one leaving every message to graphql-ws (`sharedFrames: false`), run the same
// conversation; a raw graphql-transport-ws client records every frame each sends, byte for
// byte, and the official graphql-ws client and GraphiQL's fetcher record what they see.

/** What the subscription feeds carry: one object per change, handed to every subscriber (as the live services do). */
interface Tick {
  value: number;
  label: string;
  /** Serialised by JSON.stringify through toJSON, which counts the serialisations. */
  raw: { toJSON(): unknown };
  fail?: boolean;
}

/** A schema whose subscriptions read CoalescingQueues fed by `publish`, as Tally's live services feed theirs. */
function fixture() {
  const schema: GraphQLSchema = buildSchema(`
    scalar Raw
    type Query { hello: String }
    type Tick { value: Int, label: String, raw: Raw, fails: Int }
    type Subscription { ticks(topic: String!): Tick, numbers: Int, broken: Int }
  `);
  (schema.getType('Raw') as GraphQLScalarType).serialize = (v: unknown) => v;
  (schema.getType('Tick') as unknown as { getFields(): Record<string, { resolve?: (t: Tick) => unknown }> }).getFields().fails!.resolve = (t) => {
    if (t.fail) throw new Error(`tick ${t.value} fails`);
    return t.value;
  };
  (schema.getQueryType()!.getFields().hello as { resolve?: () => unknown }).resolve = () => 'hi';
  const topics = new Map<string, Set<CoalescingQueue<unknown>>>();
  const queueOf = (topic: string) => {
    const queues = topics.get(topic) ?? new Set();
    topics.set(topic, queues);
    const q: CoalescingQueue<unknown> = new CoalescingQueue(() => queues.delete(q));
    queues.add(q);
    return q;
  };
  const sub = schema.getSubscriptionType()!.getFields();
  sub.ticks!.subscribe = (_: unknown, a: { topic: string }) => queueOf(a.topic);
  sub.ticks!.resolve = (e: unknown) => e;
  sub.numbers!.subscribe = () => queueOf('numbers');
  sub.numbers!.resolve = (e: unknown) => e;
  // a source that is not a CoalescingQueue, and fails after its first event
  sub.broken!.subscribe = async function* () {
    yield 1;
    throw new Error('the feed broke');
  };
  sub.broken!.resolve = (e: unknown) => e;
  return {
    schema,
    subscribers: (topic: string) => topics.get(topic)?.size ?? 0,
    publish(topic: string, event: unknown): void {
      for (const q of topics.get(topic) ?? []) q.offer('k', () => event);
    },
    /** Ends the topic's streams, as a source that finishes. */
    end(topic: string): void {
      for (const q of topics.get(topic) ?? []) void q.return();
    },
  };
}

async function until(what: string, condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

interface Served {
  url: string;
  feed: ReturnType<typeof fixture>;
  /** JSON.stringify calls of the `raw` field, over every frame sent. */
  serialised(): number;
  /** onNext hook calls (graphql-ws's, or the shared path's). */
  nexts(): number;
  /** Whether answers executed now carry extensions.stale. */
  stale: boolean;
  close(): Promise<void>;
}

async function serve(sharedFrames: boolean): Promise<Served> {
  const feed = fixture();
  const documents = new Map<string, DocumentNode>();
  let nexts = 0;
  const hooks: GraphqlWsHooks = {
    schema: feed.schema,
    // one document per query text, as ws-security keeps them, so that subscribers share executions
    parse: (query) => {
      const text = typeof query === 'string' ? query : query.body;
      if (!documents.has(text)) documents.set(text, parse(text));
      return documents.get(text)!;
    },
    onSubscribe: (_ctx, _id, payload) => ((payload.variables as { t?: string } | null | undefined)?.t === 'forbidden' ? [new GraphQLError('not this topic', { extensions: { code: 'FORBIDDEN' } })] : undefined),
    onNext: (_ctx, id) => {
      nexts++;
      // a hook that answers something else than the result: sent as graphql-ws sends it
      return id === '9' ? { data: { replaced: true } } : undefined;
    },
  };
  const served: Served = {
    url: '',
    feed,
    serialised: () => 0,
    nexts: () => nexts,
    stale: false,
    close: async () => {},
  };
  const server = new SubscriptionServer({ path: '/graphql', maxPayload: 1 << 20, hooks, sharedFrames, extensions: () => (served.stale ? { stale: true } : undefined) });
  const http = createServer((_req, res) => res.writeHead(404).end());
  server.attach(http);
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  served.url = `ws://127.0.0.1:${(http.address() as AddressInfo).port}/graphql`;
  served.close = async () => {
    await server.close();
    await new Promise((r) => http.close(r));
  };
  return served;
}

/** A graphql-transport-ws client that records every frame as received. */
class RawClient {
  readonly frames: { text: string; binary: boolean }[] = [];
  closed: { code: number; reason: string } | undefined;

  private constructor(private readonly socket: WebSocket) {
    socket.on('message', (data, binary) => this.frames.push({ text: String(data), binary }));
    socket.on('close', (code, reason) => (this.closed = { code, reason: String(reason) }));
  }

  static async open(url: string): Promise<RawClient> {
    const socket = new WebSocket(url, 'graphql-transport-ws');
    await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
    return new RawClient(socket);
  }

  send(message: object): void {
    this.socket.send(JSON.stringify(message));
  }

  of(id: string): string[] {
    return this.frames.filter((f) => (JSON.parse(f.text) as { id?: string }).id === id).map((f) => f.text);
  }

  close(): void {
    this.socket.terminate();
  }
}

const TICKS = 'subscription A($t: String!) { ticks(topic: $t) { value label raw fails } }';
const ODD_ID = 'q"é✓\\n';

function tick(value: number, label = `tick ${value}`, fail = false, counter: { n: number }): Tick {
  return { value, label, fail, raw: { toJSON: () => (counter.n++, { n: value }) } };
}

/** The conversation both servers go through; returns what each client saw. */
async function converse(served: Served) {
  const counter = { n: 0 };
  served.serialised = () => counter.n;
  const { feed } = served;
  const raw = await RawClient.open(served.url);
  raw.send({ type: 'connection_init' });
  await until('ack', () => raw.frames.length === 1);

  const official: Client = createClient({ url: served.url, webSocketImpl: WebSocket, retryAttempts: 0, lazy: false });
  const officialSeen: ExecutionResult[] = [];
  const officialDone = new Promise<void>((resolve, reject) => official.subscribe({ query: TICKS, variables: { t: 'a' } }, { next: (v) => officialSeen.push(v as ExecutionResult), error: reject, complete: resolve }));
  const graphiqlClient = createClient({ url: served.url, webSocketImpl: WebSocket, retryAttempts: 0, lazy: false });
  const fetcher = createGraphiQLFetcher({ url: served.url.replace(/^ws/, 'http'), wsClient: graphiqlClient, fetch: globalThis.fetch });
  const graphiqlSeen: unknown[] = [];
  const graphiql = (async () => {
    const stream = (await fetcher({ query: TICKS, operationName: 'A', variables: { t: 'a' } }, { documentAST: parse(TICKS) })) as AsyncIterable<unknown>;
    for await (const r of stream) graphiqlSeen.push(r);
  })();

  raw.send({ id: '1', type: 'subscribe', payload: { query: TICKS, variables: { t: 'a' } } });
  raw.send({ id: '2', type: 'subscribe', payload: { query: TICKS, variables: { t: 'a' } } });
  raw.send({ id: ODD_ID, type: 'subscribe', payload: { query: TICKS, operationName: 'A', variables: { t: 'a' } } });
  raw.send({ id: '3', type: 'subscribe', payload: { query: 'subscription { numbers }' } });
  raw.send({ id: '4', type: 'subscribe', payload: { query: 'subscription { ticks(topic: "a") { nope } }' } });
  raw.send({ id: '5', type: 'subscribe', payload: { query: '{ hello }' } });
  raw.send({ id: '6', type: 'subscribe', payload: { query: TICKS, variables: { t: 'forbidden' } } });
  raw.send({ id: '7', type: 'subscribe', payload: { query: 'subscription { ticks(topic: "b") { value } }' } });
  raw.send({ id: '8', type: 'subscribe', payload: { query: 'subscription { broken }' } });
  raw.send({ id: '9', type: 'subscribe', payload: { query: 'subscription { ticks(topic: "c") { value } }' } });
  await until('every subscription', () => feed.subscribers('a') === 5 && feed.subscribers('numbers') === 1 && feed.subscribers('b') === 1 && feed.subscribers('c') === 1);
  await until('the refusals, the query and the broken feed', () => raw.of('4').length === 1 && raw.of('5').length === 2 && raw.of('6').length === 1 && raw.of('8').length === 2);
  feed.publish('c', tick(0, 'zero', false, { n: 0 }));
  await until('the replaced result', () => raw.of('9').length === 1);

  const onA = () => raw.of('1').length;
  const step = async (publish: () => void, rawFrames: number, clientFrames: number) => {
    publish();
    await until('the frames of a tick', () => onA() === rawFrames && officialSeen.length === clientFrames && graphiqlSeen.length === clientFrames);
  };
  await step(() => feed.publish('a', tick(1, 'one', false, counter)), 1, 1);
  served.stale = true;
  await step(() => feed.publish('a', tick(2, 'two', true, counter)), 2, 2); // errors, and stale
  served.stale = false;
  await step(() => feed.publish('a', tick(3, 'x'.repeat(300), false, counter)), 3, 3); // a 16-bit frame length
  await step(() => feed.publish('a', tick(4, 'é'.repeat(40_000), false, counter)), 4, 4); // a 64-bit frame length
  raw.send({ id: '2', type: 'complete' });
  await until('operation 2 to end', () => feed.subscribers('a') === 4);
  await step(() => feed.publish('a', tick(5, 'five', false, counter)), 5, 5);
  feed.publish('numbers', 7);
  await until('a number', () => raw.of('3').length === 1);
  feed.publish('numbers', 8);
  await until('a number', () => raw.of('3').length === 2);
  feed.end('b');
  await until('operation 7 to complete', () => raw.of('7').length === 1);
  feed.end('a'); // ends the official client's and GraphiQL's subscriptions too
  await Promise.all([officialDone, graphiql]);
  await until('the rest of a to complete', () => raw.of('1').length === 6);
  raw.send({ id: '3', type: 'subscribe', payload: { query: '{ hello }' } }); // an id still running
  await until('the close', () => raw.closed !== undefined);

  await official.dispose();
  await graphiqlClient.dispose();
  raw.close();
  return { frames: raw.frames, closed: raw.closed, officialSeen, graphiqlSeen, serialised: counter.n, nexts: served.nexts() };
}

describe(SubscriptionServer.name, () => {
  let shared: Awaited<ReturnType<typeof converse>>;
  let plain: Awaited<ReturnType<typeof converse>>;

  beforeAll(async () => {
    for (const sharedFrames of [true, false]) {
      const served = await serve(sharedFrames);
      try {
        const seen = await converse(served);
        if (sharedFrames) shared = seen;
        else plain = seen;
      } finally {
        await served.close();
      }
    }
  });

  it('sends the same frames, byte for byte, from shared frames as graphql-ws does itself', () => {
    const ids = ['1', '2', ODD_ID, '3', '4', '5', '6', '7', '8', '9'];
    for (const id of ids) {
      const a = shared.frames.filter((f) => (JSON.parse(f.text) as { id?: string }).id === id);
      const b = plain.frames.filter((f) => (JSON.parse(f.text) as { id?: string }).id === id);
      expect([id, a]).toEqual([id, b]);
    }
    // every frame is text, and the whole conversation has the same frames (orders across operations may interleave differently)
    expect(shared.frames.every((f) => !f.binary)).toBe(true);
    expect(shared.frames.map((f) => f.text).sort()).toEqual(plain.frames.map((f) => f.text).sort());
    expect(shared.closed).toEqual({ code: 4409, reason: 'Subscriber for 3 already exists' });
    expect(plain.closed).toEqual(shared.closed);
  });

  it('writes what graphql-ws would serialise for each result', () => {
    const frames = shared.frames.map((f) => f.text);
    const next = (id: string, payload: ExecutionResult) => stringifyMessage({ id, type: MessageType.Next, payload });
    expect(frames[0]).toBe('{"type":"connection_ack"}');
    const one = { data: { ticks: { value: 1, label: 'one', raw: { n: 1 }, fails: 1 } } };
    expect(frames).toContain(next('1', one));
    expect(frames).toContain(next(ODD_ID, one));
    // errors after data and extensions, as graphql-ws orders them
    const two = next('1', {
      data: { ticks: { value: 2, label: 'two', raw: { n: 2 }, fails: null } },
      extensions: { stale: true },
      errors: [{ message: 'tick 2 fails', locations: [{ line: 1, column: TICKS.indexOf('fails') + 1 }], path: ['ticks', 'fails'] }],
    } as unknown as ExecutionResult);
    expect(frames).toContain(two);
    expect(frames.filter((f) => f.includes('"stale"'))).toHaveLength(3); // operations 1, 2 and ODD_ID, for tick 2 only
    expect(frames).toContain(next('3', { data: { numbers: 8 } }));
    expect(frames).toContain(next('5', { data: { hello: 'hi' } }));
    expect(frames).toContain('{"id":"5","type":"complete"}');
    expect(frames).toContain('{"id":"7","type":"complete"}');
    expect(frames.find((f) => f.startsWith('{"id":"4","type":"error"'))).toMatch(/Cannot query field \\"nope\\"/);
    expect(frames).toContain('{"id":"6","type":"error","payload":[{"message":"not this topic","extensions":{"code":"FORBIDDEN"}}]}');
    expect(frames).toContain(next('8', { data: { broken: 1 } }));
    expect(frames).toContain('{"id":"8","type":"error","payload":[{"message":"the feed broke"}]}');
    expect(frames).toContain('{"id":"9","type":"next","payload":{"data":{"replaced":true}}}');
    // operation 2 was completed by the client before tick 5: no frame of it, nor a complete
    expect(shared.frames.filter((f) => f.text.startsWith('{"id":"2",'))).toHaveLength(4);
  });

  it('serialises each result once for all the subscribers that share it', () => {
    // Five ticks, each sent to five subscriptions (four after operation 2 ended) of one document and
    // variables: operations 1 and 2 and the official client without an operation name, ODD_ID and
    // GraphiQL naming it — two results per tick, each serialised once.
    expect(shared.serialised).toBe(5 * 2);
    expect(plain.serialised).toBe(5 * 5 - 1);
    expect(shared.nexts).toBe(plain.nexts);
  });

  it('is seen alike by the official graphql-ws client and by GraphiQL', () => {
    expect(shared.officialSeen).toEqual(plain.officialSeen);
    expect(shared.graphiqlSeen).toEqual(plain.graphiqlSeen);
    expect(shared.officialSeen.map((r) => (r.data as { ticks: { value: number } }).ticks.value)).toEqual([1, 2, 3, 4, 5]);
    expect(shared.graphiqlSeen).toEqual(shared.officialSeen);
    expect(shared.officialSeen[1]).toMatchObject({ extensions: { stale: true }, errors: [{ message: 'tick 2 fails' }] });
    expect(shared.officialSeen[2]!.extensions).toBeUndefined();
  });
});
