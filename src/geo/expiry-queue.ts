/*
 * ExpiryQueue: finds the members whose last-seen time is ttlMs or more in the past without
 * scanning the others, and without any work on a position update beyond the owner writing
 * the new last-seen time.
 *
 * Each live id sits in exactly one bucket: a doubly linked list (prev/next Int32Arrays,
 * 8 bytes per id) of the ids queued with a time in [key * width, (key + 1) * width). The
 * queue is lazy, like a timer wheel whose entries are re-armed only when they fire: an
 * update does not move the id; when expire(now) reaches a bucket whose ids may be due, it
 * detaches the bucket and, for each id, either reports it expired (seen <= now - ttl) or
 * re-queues it under the bucket of its current last-seen time. An id therefore moves at
 * most once per ttl period however often it is updated, and expire() touches only due
 * buckets: amortised O(1) per expired or re-armed id, plus one rescan of the bucket that
 * straddles the cutoff (~1/BUCKETS_PER_TTL of the ids) per call.
 *
 * The head of a bucket has prev = -(bucket slot + 2), so unlinking any id is O(1) without
 * storing its bucket. Invariants: every linked id's queued time is <= its last-seen time;
 * no non-empty bucket has a key below `low`; bucket slots and keys correspond one to one
 * through byKey. Expiry is exact: an id is reported by the first expire(now) with
 * now - ttl >= its last-seen time.
 */

/** Buckets per ttl: the bucket rescanned by every expire() call holds ~1/1024 of the ids. */
const BUCKETS_PER_TTL = 1024;
/** Marks the end of a list. */
const NONE = -1;

export class ExpiryQueue {
  /** Width of a bucket in ms. */
  readonly width: number;
  private prev: Int32Array;
  private next: Int32Array;
  private readonly bucketKey: number[] = [];
  private readonly bucketHead: number[] = [];
  private readonly freeSlots: number[] = [];
  private readonly byKey = new Map<number, number>();
  private low = Infinity;

  /** A queue for entries that live `ttlMs` (> 0) after their last-seen time; `capacity` ids to start with. */
  constructor(
    readonly ttlMs: number,
    capacity: number,
  ) {
    if (!(ttlMs > 0) || !Number.isFinite(ttlMs)) throw new Error(`ttlMs ${ttlMs} must be a positive finite number of ms`);
    this.width = Math.max(1, Math.ceil(ttlMs / BUCKETS_PER_TTL));
    this.prev = new Int32Array(capacity);
    this.next = new Int32Array(capacity);
  }

  /** Makes room for ids below `capacity` (never shrinks). */
  grow(capacity: number): void {
    if (capacity <= this.prev.length) return;
    const p = new Int32Array(capacity);
    p.set(this.prev);
    this.prev = p;
    const n = new Int32Array(capacity);
    n.set(this.next);
    this.next = n;
  }

  /** Queues an id that is not queued, last seen at `ts`. */
  add(id: number, ts: number): void {
    this.link(id, Math.floor(ts / this.width));
  }

  /** Unqueues a queued id. */
  delete(id: number): void {
    const p = this.prev[id];
    const n = this.next[id];
    if (p >= 0) {
      this.next[p] = n;
    } else {
      const slot = -p - 2;
      this.bucketHead[slot] = n;
      if (n === NONE) this.dropBucket(slot);
    }
    if (n !== NONE) this.prev[n] = p;
  }

  /**
   * Unqueues every id with seenOf(id) <= now - ttlMs (seenOf gives the owner's current
   * last-seen time) and calls onExpired(id) for each, in bucket order; returns how many.
   * onExpired must not add or delete ids of this queue.
   */
  expire(now: number, seenOf: (id: number) => number, onExpired: (id: number) => void): number {
    if (this.byKey.size === 0) return 0;
    const limit = now - this.ttlMs;
    const cutoff = Math.floor(limit / this.width);
    if (cutoff < this.low) return 0;
    let expired = 0;
    const visit = (key: number): void => {
      const slot = this.byKey.get(key);
      if (slot === undefined) return;
      let id = this.bucketHead[slot];
      this.dropBucket(slot);
      while (id !== NONE) {
        const following = this.next[id];
        const s = seenOf(id);
        if (s <= limit) {
          expired++;
          onExpired(id);
        } else {
          this.link(id, Math.floor(s / this.width));
        }
        id = following;
      }
    };
    if (cutoff - this.low <= 2 * this.byKey.size + 64) {
      for (let key = this.low; key <= cutoff; key++) visit(key);
    } else {
      // A long jump in time over mostly empty keys: visit the due keys only, in order.
      const due = [...this.byKey.keys()].filter((k) => k <= cutoff).sort((a, b) => a - b);
      for (const key of due) visit(key);
    }
    this.low = cutoff;
    return expired;
  }

  /** Bytes held by the queue. */
  bytes(): number {
    return this.prev.byteLength + this.next.byteLength + this.bucketKey.length * 24;
  }

  private link(id: number, key: number): void {
    let slot = this.byKey.get(key);
    if (slot === undefined) {
      slot = this.freeSlots.length > 0 ? (this.freeSlots.pop() as number) : this.bucketKey.length;
      this.bucketKey[slot] = key;
      this.bucketHead[slot] = NONE;
      this.byKey.set(key, slot);
      if (key < this.low) this.low = key;
    }
    const head = this.bucketHead[slot];
    this.next[id] = head;
    this.prev[id] = -slot - 2;
    if (head !== NONE) this.prev[head] = id;
    this.bucketHead[slot] = id;
  }

  private dropBucket(slot: number): void {
    this.byKey.delete(this.bucketKey[slot]);
    this.freeSlots.push(slot);
  }
}
