/*
 * A binary min-heap of (time, id) pairs in two typed arrays: the lazy expiry queue of a
 * sorted set with a member TTL.
 *
 * Why lazy: an update only records the member's new last-update time (O(1)); the heap
 * holds about one entry per member, pushed when the member first appears. When an entry
 * reaches the top and the member has been updated since, the owner pushes it again with
 * its newer time instead of removing it. Each re-push pays for an earlier update, so the
 * cost is amortised O(log n) per update and expiry never scans the whole set. The owner
 * keeps which entry of an id is current and drops stale ones when they surface.
 *
 * Invariant: time[k] <= time[2k+1] and time[k] <= time[2k+2] for every slot k < size.
 */

/** First capacity: grown by doubling. */
const INITIAL_CAPACITY = 16;

export class ExpiryHeap {
  private time = new Float64Array(INITIAL_CAPACITY);
  private ids = new Int32Array(INITIAL_CAPACITY);
  size = 0;

  /** Adds (t, id): O(log n). */
  push(t: number, id: number): void {
    if (this.size === this.time.length) {
      const time = new Float64Array(this.size * 2);
      time.set(this.time);
      this.time = time;
      const ids = new Int32Array(this.size * 2);
      ids.set(this.ids);
      this.ids = ids;
    }
    let k = this.size++;
    while (k > 0) {
      const parent = (k - 1) >> 1;
      if (this.time[parent] <= t) break;
      this.time[k] = this.time[parent];
      this.ids[k] = this.ids[parent];
      k = parent;
    }
    this.time[k] = t;
    this.ids[k] = id;
  }

  /** Earliest time in the heap (Infinity when empty). */
  peekTime(): number {
    return this.size === 0 ? Infinity : this.time[0];
  }

  /** Id of the earliest entry (undefined behaviour when empty). */
  peekId(): number {
    return this.ids[0];
  }

  /** Removes the earliest entry: O(log n). */
  pop(): void {
    const n = --this.size;
    if (n === 0) return;
    const t = this.time[n];
    const id = this.ids[n];
    let k = 0;
    for (;;) {
      let c = 2 * k + 1;
      if (c >= n) break;
      if (c + 1 < n && this.time[c + 1] < this.time[c]) c++;
      if (this.time[c] >= t) break;
      this.time[k] = this.time[c];
      this.ids[k] = this.ids[c];
      k = c;
    }
    this.time[k] = t;
    this.ids[k] = id;
  }

  /** Empties the heap. */
  clear(): void {
    this.size = 0;
  }
}
