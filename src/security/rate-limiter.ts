/**
 * RateLimiter: one token bucket per principal, filled at `rate` cost units per second up to
 * `capacity`; an operation takes its cost from the bucket or is refused whole. Buckets are
 * kept for the most recently seen `maxBuckets` principals (a Map in least-recently-used
 * order), so clients identified by address in open mode cannot grow it without bound; a
 * forgotten bucket comes back full, which only ever favours the client.
 *
 * Time is passed in (epoch ms), so the arithmetic is testable without timers.
 */

interface Bucket {
  tokens: number;
  at: number;
}

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  /**
   * @param rate cost units per second; 0 disables the limit
   * @param capacity largest burst; an operation costing more can never run
   * @param maxBuckets principals remembered at most
   */
  constructor(
    readonly rate: number,
    readonly capacity: number,
    private readonly maxBuckets = 10_000,
  ) {}

  get enabled(): boolean {
    return this.rate > 0;
  }

  /**
   * Takes `cost` units from the bucket of `id` at time `now`. Returns 0 when granted,
   * otherwise the milliseconds after which the same cost would be granted (nothing is taken).
   * A cost above the capacity counts as the capacity: it needs a full bucket.
   */
  take(id: string, cost: number, now: number): number {
    if (!this.enabled) return 0;
    cost = Math.min(cost, this.capacity);
    let b = this.buckets.get(id);
    if (b === undefined) {
      b = { tokens: this.capacity, at: now };
      if (this.buckets.size >= this.maxBuckets) this.buckets.delete(this.buckets.keys().next().value!);
    } else {
      b.tokens = Math.min(this.capacity, b.tokens + (Math.max(0, now - b.at) * this.rate) / 1000);
      b.at = now;
      this.buckets.delete(id);
    }
    this.buckets.set(id, b);
    // The epsilon absorbs the rounding of many small refills.
    if (cost <= b.tokens + 1e-9) {
      b.tokens = Math.max(0, b.tokens - cost);
      return 0;
    }
    return Math.ceil(((cost - b.tokens) * 1000) / this.rate);
  }

  /** Principals with a bucket (a bound check for tests and metrics). */
  get size(): number {
    return this.buckets.size;
  }
}
