/**
 * CoalescingQueue: the source behind each GraphQL subscription. Producers mark keys dirty
 * (`offer`); the value of a key is computed only when the consumer pulls it, so a hot key
 * yields at most one message per pull with the latest value ("latest wins per key"), and
 * memory is bounded by the number of distinct dirty keys, not by the event rate. Dirty keys
 * are released on the next macrotask, so every event of one ingest batch coalesces.
 *
 * Two ways to consume it: as an async iterator (`next()`, what graphql-js expects), or with
 * `pull(consumer)`, which hands the next value to a Consumer's method — no promise per value,
 * and no closure kept per subscription (the shared-frame pump of subscription-server.ts
 * consumes it this way through shared-subscribe.ts).
 *
 * Invariant: the dirty keys are `first` (the oldest, when set) then `rest` in the order they
 * first became dirty, each at most once. Most subscriptions watch one key, so `first` holds
 * it and `rest` (a Map, ~200 bytes even empty) is made only when a second key is dirty at once.
 */

type Compute<T> = () => T | undefined;

/** Receives a queue's values one pull at a time; must not throw. */
export interface Consumer<T> {
  /** The value pulled. */
  deliver(value: T): void;
  /** The queue is closed: no value will come. */
  end(): void;
}

/** A source that can hand its next value to a Consumer (CoalescingQueue, SharedEventStream). */
export interface Pullable<T> {
  /** Hands the next value to `consumer.deliver` (at once if one is ready) or `consumer.end`. One pull at a time. */
  pull(consumer: Consumer<T>): void;
}

export function isPullable<T>(source: object): source is Pullable<T> {
  return typeof (source as Partial<Pullable<T>>).pull === 'function';
}

/** Totals over every queue of the process, reported as tally_subscription_messages_*_total. */
export const queueTotals = { coalesced: 0, dropped: 0 };

/**
 * Queues with a waiting consumer and dirty keys, released together on the next macrotask:
 * one setImmediate for all of them rather than one per queue (an update watched by 10,000
 * subscriptions marks 10,000 queues).
 */
let releasing: CoalescingQueue<unknown>[] = [];
function releaseAll(): void {
  const queues = releasing;
  releasing = [];
  for (const q of queues) q.release();
}

/** The consumer of one `next()` call: resolves its promise. */
class NextCall<T> implements Consumer<T> {
  constructor(private readonly resolve: (r: IteratorResult<T>) => void) {}
  deliver(value: T): void {
    this.resolve({ value, done: false });
  }
  end(): void {
    this.resolve({ value: undefined, done: true });
  }
}

export class CoalescingQueue<T> implements AsyncIterableIterator<T>, Pullable<T> {
  /** The oldest dirty key and its computation, or undefined. */
  private firstKey: string | undefined;
  private firstCompute: Compute<T> | undefined;
  /** Keys dirtied after `firstKey` while it was dirty, in order (made on first need). */
  private rest: Map<string, Compute<T>> | undefined;
  private waiting: Consumer<T> | undefined;
  private scheduled = false;
  private closed = false;
  /** Offers merged into an already dirty key (a metric of coalescing). */
  coalesced = 0;
  /** Offers refused because `maxKeys` keys were already dirty. */
  dropped = 0;
  private seq = 0;

  /**
   * @param onClose called once when the consumer stops (unsubscribe from the change feed)
   * @param maxKeys dirty keys kept at most; beyond it new keys are dropped and counted
   */
  constructor(
    private readonly onClose: () => void,
    private readonly maxKeys = 10_000,
  ) {}

  /** Marks `key` dirty; `compute` is called when the consumer pulls it (undefined = skip). */
  offer(key: string, compute: Compute<T>): void {
    if (this.closed) return;
    if (this.firstKey === key) {
      this.firstCompute = compute;
      this.merged();
    } else if (this.rest !== undefined && this.rest.has(key)) {
      this.rest.set(key, compute);
      this.merged();
    } else if (this.firstKey === undefined && (this.rest === undefined || this.rest.size === 0)) {
      this.firstKey = key;
      this.firstCompute = compute;
    } else if (this.dirtyKeys() >= this.maxKeys) {
      this.dropped++;
      queueTotals.dropped++;
      return;
    } else (this.rest ??= new Map()).set(key, compute);
    if (this.waiting && !this.scheduled) {
      this.scheduled = true;
      if (releasing.length === 0) setImmediate(releaseAll);
      releasing.push(this as CoalescingQueue<unknown>);
    }
  }

  /** Pushes a value that needs no coalescing key (each offer distinct). */
  push(value: T): void {
    this.offer(`#${this.seq++}`, () => value);
  }

  next(): Promise<IteratorResult<T>> {
    if (this.closed) return Promise.resolve({ value: undefined, done: true });
    const value = this.take();
    if (value !== undefined) return Promise.resolve({ value, done: false });
    return new Promise((resolve) => {
      this.waiting = new NextCall(resolve);
    });
  }

  pull(consumer: Consumer<T>): void {
    if (this.closed) return consumer.end();
    const value = this.take();
    if (value !== undefined) return consumer.deliver(value);
    this.waiting = consumer;
  }

  return(): Promise<IteratorResult<T>> {
    this.close();
    return Promise.resolve({ value: undefined, done: true });
  }

  throw(err: unknown): Promise<IteratorResult<T>> {
    this.close();
    return Promise.reject(err);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  private merged(): void {
    this.coalesced++;
    queueTotals.coalesced++;
  }

  private dirtyKeys(): number {
    return (this.firstKey === undefined ? 0 : 1) + (this.rest?.size ?? 0);
  }

  /** The first dirty key's value, computed now; keys computing to undefined are skipped. */
  private take(): T | undefined {
    for (;;) {
      let compute: Compute<T>;
      if (this.firstKey !== undefined) {
        compute = this.firstCompute!;
        this.firstKey = undefined;
        this.firstCompute = undefined;
      } else if (this.rest !== undefined && this.rest.size > 0) {
        const [key, c] = this.rest.entries().next().value!;
        this.rest.delete(key);
        compute = c;
      } else return undefined;
      const value = compute();
      if (value !== undefined) return value;
    }
  }

  /** Hands the first dirty value to the waiting consumer (called by releaseAll). */
  release(): void {
    this.scheduled = false;
    const consumer = this.waiting;
    if (!consumer || this.closed) return;
    const value = this.take();
    if (value === undefined) return;
    this.waiting = undefined;
    consumer.deliver(value);
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    this.firstKey = undefined;
    this.firstCompute = undefined;
    this.rest?.clear();
    this.onClose();
    const consumer = this.waiting;
    this.waiting = undefined;
    consumer?.end();
  }
}
