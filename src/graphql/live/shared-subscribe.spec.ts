import { buildSchema, parse, type ExecutionResult, type GraphQLSchema } from 'graphql';
import { CoalescingQueue } from './coalescing-queue.js';
import { sharedSubscribe, type ResultConsumer, type SharedEventStream } from './shared-subscribe.js';

/** A schema whose subscription field yields the events given to `emit`, and counts field resolutions. */
function fixture() {
  const schema: GraphQLSchema = buildSchema(`
    type Query { ok: Boolean }
    type Tick { value(scale: Int): Int, label: String }
    type Subscription { ticks(topic: String!): Tick, numbers: Int }
  `);
  const streams: { topic: string; push: (e: unknown) => void; closed: boolean }[] = [];
  let resolved = 0;
  const tick = schema.getType('Tick') as unknown as { getFields(): Record<string, { resolve?: (src: { value: number; label: string }, a: { scale?: number }) => unknown }> };
  tick.getFields().value!.resolve = (src, a) => {
    resolved++;
    return src.value * (a.scale ?? 1);
  };
  const stream = (topic: string) => {
    const pending: unknown[] = [];
    let wake: ((r: IteratorResult<unknown>) => void) | undefined;
    const entry = {
      topic,
      closed: false,
      push: (e: unknown) => {
        if (wake) {
          const w = wake;
          wake = undefined;
          w({ value: e, done: false });
        } else pending.push(e);
      },
    };
    streams.push(entry);
    const it: AsyncIterableIterator<unknown> = {
      next: () => (pending.length > 0 ? Promise.resolve({ value: pending.shift(), done: false }) : new Promise((r) => (wake = r))),
      return: () => {
        entry.closed = true;
        return Promise.resolve({ value: undefined, done: true });
      },
      [Symbol.asyncIterator]() {
        return this;
      },
    };
    return it;
  };
  const sub = schema.getSubscriptionType()!.getFields();
  sub.ticks!.subscribe = (_: unknown, a: { topic: string }) => stream(a.topic);
  sub.ticks!.resolve = (e: unknown) => e;
  sub.numbers!.subscribe = () => stream('numbers');
  sub.numbers!.resolve = (e: unknown) => e;
  return { schema, streams, resolvedCount: () => resolved };
}

type Iter = AsyncGenerator<ExecutionResult, void, void>;

describe('sharedSubscribe', () => {
  it('executes an event once per document and variables, and hands every subscription that result', async () => {
    const { schema, streams, resolvedCount } = fixture();
    const doc = parse('subscription S($t: String!, $k: Int) { ticks(topic: $t) { value(scale: $k) label } }');
    const a = (await sharedSubscribe({ schema, document: doc, variableValues: { t: 'x', k: 2 } })) as Iter;
    const b = (await sharedSubscribe({ schema, document: doc, variableValues: { t: 'x', k: 2 } })) as Iter;
    const c = (await sharedSubscribe({ schema, document: doc, variableValues: { t: 'x', k: 3 } })) as Iter;
    const event = { value: 7, label: 'seven' };
    for (const s of streams) s.push(event);
    const [ra, rb, rc] = await Promise.all([a.next(), b.next(), c.next()]);
    expect(ra.value).toEqual({ data: { ticks: { value: 14, label: 'seven' } } });
    expect(rb.value).toBe(ra.value);
    expect(rc.value).toEqual({ data: { ticks: { value: 21, label: 'seven' } } });
    expect(resolvedCount()).toBe(2); // once for k=2 (shared by a and b), once for k=3

    // A different event object is executed again, even with equal content.
    const equal = { value: 7, label: 'seven' };
    for (const s of streams) s.push(equal);
    const [ra2, rb2] = await Promise.all([a.next(), b.next()]);
    expect(ra2.value).not.toBe(ra.value);
    expect(rb2.value).toBe(ra2.value);
    expect(resolvedCount()).toBe(3);
  });

  it('shares nothing between different documents of the same text, or events that are not objects', async () => {
    const { schema, streams } = fixture();
    const text = 'subscription { numbers }';
    const a = (await sharedSubscribe({ schema, document: parse(text) })) as Iter;
    const b = (await sharedSubscribe({ schema, document: parse(text) })) as Iter;
    for (const s of streams) s.push(5);
    const [ra, rb] = await Promise.all([a.next(), b.next()]);
    expect(ra.value).toEqual({ data: { numbers: 5 } });
    expect(rb.value).toEqual({ data: { numbers: 5 } });
    expect(rb.value).not.toBe(ra.value);
  });

  it('returns errors of the source stream as a result, and closes the source on return()', async () => {
    const { schema, streams } = fixture();
    const bad = await sharedSubscribe({ schema, document: parse('subscription { nope }') });
    expect(Symbol.asyncIterator in bad).toBe(false);
    expect((bad as ExecutionResult).errors?.[0]?.message).toMatch(/nope/);

    const it = (await sharedSubscribe({ schema, document: parse('subscription { ticks(topic: "y") { label } }') })) as Iter;
    expect(streams[0]!.closed).toBe(false);
    expect(await it.return()).toEqual({ value: undefined, done: true });
    expect(streams[0]!.closed).toBe(true);
  });

  it('adds the extensions of the moment an event is executed, the same for every subscriber of it', async () => {
    const { schema, streams } = fixture();
    const doc = parse('subscription { ticks(topic: "s") { value } }');
    let stale: Record<string, unknown> | undefined = { stale: true };
    const extensions = () => stale;
    const a = (await sharedSubscribe({ schema, document: doc }, extensions)) as Iter;
    const b = (await sharedSubscribe({ schema, document: doc }, extensions)) as Iter;
    const first = { value: 1, label: 'one' };
    for (const s of streams) s.push(first);
    const ra = await a.next();
    stale = undefined; // ready again before b pulls the same event: b gets the answer executed for a
    const rb = await b.next();
    expect(ra.value).toEqual({ data: { ticks: { value: 1 } }, extensions: { stale: true } });
    expect(rb.value).toBe(ra.value);
    const second = { value: 2, label: 'two' };
    for (const s of streams) s.push(second);
    expect((await a.next()).value).toEqual({ data: { ticks: { value: 2 } } }); // no `stale` key once ready
  });

  it('hands results to a consumer without a promise per result when its source is a CoalescingQueue', async () => {
    const { schema } = fixture();
    const queues: CoalescingQueue<unknown>[] = [];
    const field = schema.getSubscriptionType()!.getFields().ticks!;
    field.subscribe = () => {
      const q = new CoalescingQueue<unknown>(() => {});
      queues.push(q);
      return q;
    };
    const doc = parse('subscription { ticks(topic: "q") { value label } }');
    const streams = [(await sharedSubscribe({ schema, document: doc })) as SharedEventStream, (await sharedSubscribe({ schema, document: doc })) as SharedEventStream];
    const seen: ExecutionResult[][] = [[], []];
    let ended = 0;
    const consumers: ResultConsumer[] = seen.map((into) => ({ deliver: (r) => into.push(r), end: () => ended++, fail: (err) => expect(err).toBeUndefined() }));
    const event = { value: 3, label: 'three' };
    for (const q of queues) q.offer('k', () => event);
    streams.forEach((st, i) => st.pull(consumers[i]!));
    expect(seen).toEqual([[{ data: { ticks: { value: 3, label: 'three' } } }], [{ data: { ticks: { value: 3, label: 'three' } } }]]); // synchronously
    expect(seen[1]![0]).toBe(seen[0]![0]);
    streams.forEach((st, i) => st.pull(consumers[i]!));
    await streams[0]!.return();
    expect(ended).toBe(1);
  });
});
