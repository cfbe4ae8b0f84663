/**
 * CoalescingQueue: the async iterator behind each GraphQL subscription. Producers mark keys
 * dirty (`offer`); the value of a key is computed only when the consumer pulls it, so a hot
 * key yields at most one message per pull with the latest value ("latest wins per key"), and
 * memory is bounded by the number of distinct dirty keys, not by the event rate. Dirty keys
 * are released on the next macrotask, so every event of one ingest batch coalesces.
 *
 * Invariant: `dirty` holds each key at most once, in the order it first became dirty.
 */

type Compute<T> = () => T | undefined;

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

export class CoalescingQueue<T> implements AsyncIterableIterator<T> {
  private readonly dirty = new Map<string, Compute<T>>();
  private waiting: ((r: IteratorResult<T>) => void) | undefined;
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
    if (this.dirty.has(key)) {
      this.dirty.set(key, compute);
      this.coalesced++;
      queueTotals.coalesced++;
    } else if (this.dirty.size >= this.maxKeys) {
      this.dropped++;
      queueTotals.dropped++;
      return;
    } else this.dirty.set(key, compute);
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
      this.waiting = resolve;
    });
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

  private take(): T | undefined {
    for (const [key, compute] of this.dirty) {
      this.dirty.delete(key);
      const value = compute();
      if (value !== undefined) return value;
    }
    return undefined;
  }

  /** Hands the first dirty value to the waiting consumer (called by releaseAll). */
  release(): void {
    this.scheduled = false;
    const resolve = this.waiting;
    if (!resolve || this.closed) return;
    const value = this.take();
    if (value === undefined) return;
    this.waiting = undefined;
    resolve({ value, done: false });
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    this.dirty.clear();
    this.onClose();
    const resolve = this.waiting;
    this.waiting = undefined;
    resolve?.({ value: undefined, done: true });
  }
}
