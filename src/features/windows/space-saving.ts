/**
 * Heavy hitters per tile with Space-Saving (Metwally, Agrawal, El Abbadi, "Efficient
 * Computation of Frequent and Top-k Elements in Data Streams", ICDT 2005), in its weighted
 * form, merged across the tiles of a window as a mergeable summary (Agarwal et al.,
 * "Mergeable Summaries", PODS 2012): the `topk` aggregation.
 *
 * A summary of capacity m monitors at most m items, each with a `count` (an upper bound on
 * its true weight) and an `error` (true weight >= count - error). While at most m distinct
 * items arrive every count is exact. A new item arriving at a full summary takes the slot of
 * the item with the lowest count c: its count becomes c + weight, its error c. `floor` is the
 * largest count ever evicted: every item the summary does not monitor has a true weight of at
 * most `floor` (0 while nothing was evicted, i.e. while the summary is exact). Counts add up
 * to the total weight N, so floor <= N / m, and so does every error.
 *
 * Invariants: items are distinct; counts[i] >= errors[i] >= 0; `errors` is undefined while
 * every error is 0 (no item with a non-zero count was ever evicted); `index` maps item ->
 * slot once the summary holds more than INDEX_FROM items (a scan is faster below).
 * Weights must be finite and >= 0 (the router refuses others).
 */

/** Items beyond which a summary keeps a Map from item to slot; below it a scan is cheaper. */
const INDEX_FROM = 16;

/** One item of a top-k answer: its true weight lies in [count - error, count]. */
export interface TopItem {
  item: string;
  count: number;
  error: number;
}

/** A window's top-k answer. */
export interface TopAnswer {
  /** At most k items, heaviest first (by count, ties by item in code-unit order). */
  items: TopItem[];
  /**
   * Every item not in `items` has a true weight of at most this: so every item heavier than
   * it is listed. 0 when the list holds every item of the window exactly.
   */
  unlistedAtMost: number;
}

/** Everything a summary holds, as plain data (snapshots). */
export interface SpaceSavingState {
  capacity: number;
  floor: number;
  items: string[];
  counts: number[];
  /** Absent or empty when every error is 0. */
  errors?: number[];
}

export class SpaceSaving {
  private items: string[] = [];
  private counts: number[] = [];
  private errors: number[] | undefined;
  private floor = 0;
  private index: Map<string, number> | undefined;

  /** @param capacity items monitored at most (m); Infinity for an accumulator that never evicts. */
  constructor(readonly capacity: number) {}

  /** Items monitored. */
  get size(): number {
    return this.items.length;
  }

  /** True while every count is exact (nothing with a non-zero count was evicted). */
  get exact(): boolean {
    return this.floor === 0;
  }

  /** Adds `weight` (finite, >= 0) to `item`. */
  add(item: string, weight: number): void {
    const i = this.slotOf(item);
    if (i >= 0) {
      this.counts[i] += weight;
      return;
    }
    if (this.items.length < this.capacity) {
      // An unmonitored item may hold up to `floor` already (0 unless merged or pruned).
      this.push(item, this.floor + weight, this.floor);
      return;
    }
    // Full: the item with the lowest count (the first such slot) gives way.
    let min = 0;
    const counts = this.counts;
    for (let j = 1; j < counts.length; j++) if (counts[j] < counts[min]) min = j;
    const evicted = counts[min];
    if (evicted > 0) {
      this.errors ??= new Array<number>(counts.length).fill(0);
      if (evicted > this.floor) this.floor = evicted;
    }
    this.index?.delete(this.items[min]);
    this.items[min] = item;
    counts[min] = evicted + weight;
    if (this.errors !== undefined) this.errors[min] = evicted;
    this.index?.set(item, min);
  }

  /**
   * Folds `other` into this summary (the mergeable-summaries union): an item's count and error
   * in each summary are its own where it is monitored, that summary's floor where it is not;
   * the union adds them, and the floors add up. Over capacity, the lightest items go (ties by
   * item) and the floor rises to the heaviest of them. `other` is not changed.
   */
  merge(other: SpaceSaving): this {
    const add = other.floor;
    const own = this.floor;
    if (add > 0) {
      // Items monitored here but not in `other` may hold up to other's floor there.
      for (let i = 0; i < this.items.length; i++) {
        if (other.slotOf(this.items[i]) < 0) {
          this.counts[i] += add;
          this.errorsArray()[i] += add;
        }
      }
    }
    for (let j = 0; j < other.items.length; j++) {
      const item = other.items[j];
      const c = other.counts[j];
      const e = other.errors === undefined ? 0 : other.errors[j];
      const i = this.slotOf(item);
      if (i >= 0) {
        this.counts[i] += c;
        if (e > 0) this.errorsArray()[i] += e;
      } else this.push(item, own + c, own + e);
    }
    this.floor = own + add;
    if (this.items.length > this.capacity) this.prune();
    return this;
  }

  /** The `k` heaviest items and the bound on the others (see TopAnswer). */
  top(k: number): TopAnswer {
    return topOfUnion(this.items, this.counts, this.errors, this.floor, k);
  }

  /**
   * The top-k answer of the union of `summaries` (the tiles of a window): equal to merging them
   * into an accumulator of unbounded capacity and asking top(k), without building it.
   * `summaries` are not changed.
   */
  static topOf(summaries: readonly SpaceSaving[], k: number): TopAnswer {
    if (summaries.length === 1) return summaries[0].top(k);
    // Per union item: the sums of its counts and errors over the summaries monitoring it, and of
    // those summaries' floors; its estimate adds every other summary's floor (total - own).
    const slot = new Map<string, number>();
    const items: string[] = [];
    const counts: number[] = [];
    const errors: number[] = [];
    const floors: number[] = [];
    let total = 0;
    for (const s of summaries) {
      total += s.floor;
      for (let j = 0; j < s.items.length; j++) {
        const item = s.items[j];
        const e = s.errors === undefined ? 0 : s.errors[j];
        const i = slot.get(item);
        if (i === undefined) {
          slot.set(item, items.length);
          items.push(item);
          counts.push(s.counts[j]);
          errors.push(e);
          floors.push(s.floor);
        } else {
          counts[i] += s.counts[j];
          errors[i] += e;
          floors[i] += s.floor;
        }
      }
    }
    if (total > 0) {
      for (let i = 0; i < items.length; i++) {
        const absent = total - floors[i];
        counts[i] += absent;
        errors[i] += absent;
      }
    }
    return topOfUnion(items, counts, errors, total, k);
  }

  /** The summary as plain data (arrays are copies). */
  state(): SpaceSavingState {
    const s: SpaceSavingState = { capacity: this.capacity, floor: this.floor, items: [...this.items], counts: [...this.counts] };
    if (this.errors !== undefined) s.errors = [...this.errors];
    return s;
  }

  /** A summary from state(); throws RangeError on state no summary can hold. */
  static fromState(s: SpaceSavingState): SpaceSaving {
    const n = s.items.length;
    if (!(s.capacity >= 1) || n > s.capacity || s.counts.length !== n || (s.errors !== undefined && s.errors.length !== 0 && s.errors.length !== n)) {
      throw new RangeError(`Space-Saving state of ${n} items does not fit capacity ${s.capacity} or its counts`);
    }
    if (new Set(s.items).size !== n) throw new RangeError('Space-Saving state repeats an item');
    const out = new SpaceSaving(s.capacity);
    for (let i = 0; i < n; i++) out.push(s.items[i], s.counts[i], s.errors !== undefined && s.errors.length > 0 ? s.errors[i] : 0);
    out.floor = s.floor;
    return out;
  }

  /** Slot of `item`, or -1. */
  private slotOf(item: string): number {
    if (this.index !== undefined) return this.index.get(item) ?? -1;
    return this.items.indexOf(item);
  }

  private push(item: string, count: number, error: number): void {
    const i = this.items.length;
    this.items.push(item);
    this.counts.push(count);
    if (error > 0 || this.errors !== undefined) this.errorsArray()[i] = error;
    if (this.index !== undefined) this.index.set(item, i);
    else if (i + 1 > INDEX_FROM) this.index = new Map(this.items.map((x, j) => [x, j]));
  }

  /** The errors array, made (zeros) when needed. */
  private errorsArray(): number[] {
    return (this.errors ??= new Array<number>(this.items.length).fill(0));
  }

  /** Keeps the `capacity` heaviest items; the floor rises to the heaviest dropped. */
  private prune(): void {
    const order = rank(this.items, this.counts);
    const keep = order.slice(0, this.capacity);
    for (let r = this.capacity; r < order.length; r++) if (this.counts[order[r]] > this.floor) this.floor = this.counts[order[r]];
    const errors = this.errors;
    const items = keep.map((i) => this.items[i]);
    const counts = keep.map((i) => this.counts[i]);
    this.errors = errors === undefined ? undefined : keep.map((i) => errors[i]);
    this.items = items;
    this.counts = counts;
    this.index = items.length > INDEX_FROM ? new Map(items.map((x, j) => [x, j])) : undefined;
  }
}

/** Slots ordered heaviest first, ties by item in code-unit order (deterministic answers). */
function rank(items: readonly string[], counts: readonly number[]): number[] {
  const order = Array.from({ length: items.length }, (_, i) => i);
  return order.sort((a, b) => counts[b] - counts[a] || (items[a] < items[b] ? -1 : items[a] > items[b] ? 1 : 0));
}

function topOfUnion(items: readonly string[], counts: readonly number[], errors: readonly number[] | undefined, floor: number, k: number): TopAnswer {
  // The k + 1 heaviest slots, kept sorted by insertion (k is small; most items are lighter than
  // the last kept and cost one comparison): a read of a large union sorts none of the rest.
  const best: number[] = [];
  const keep = k + 1;
  const before = (a: number, b: number) => counts[a] > counts[b] || (counts[a] === counts[b] && items[a] < items[b]);
  for (let i = 0; i < items.length; i++) {
    if (best.length === keep && !before(i, best[keep - 1])) continue;
    let at = best.length === keep ? keep - 1 : best.length;
    while (at > 0 && before(i, best[at - 1])) {
      best[at] = best[at - 1];
      at--;
    }
    best[at] = i;
  }
  const n = Math.min(k, best.length);
  const top = new Array<TopItem>(n);
  for (let r = 0; r < n; r++) {
    const i = best[r];
    top[r] = { item: items[i], count: counts[i], error: errors === undefined ? 0 : errors[i] };
  }
  // An unlisted item is either monitored below the k-th (at most its count) or not monitored.
  const next = best.length > k ? counts[best[k]] : 0;
  return { items: top, unlistedAtMost: Math.max(floor, next) };
}

/*
 * Why the bounds hold.
 *
 * One summary (weighted Space-Saving): a monitored item's count only grows by its own weights
 * after it entered, and it entered with the count c of the item it replaced, c >= anything it
 * had before (it was evicted at most at that count, or never seen): so count >= true weight
 * >= count - error, error = c. An unmonitored item was last evicted at a count >= its true
 * weight, and evicted counts never exceed `floor`. The minimum count only rises, so the
 * evicted counts are also <= the current minimum <= N / m.
 *
 * Union of summaries S_1..S_t (a window's tiles): the true weight of x is the sum of its true
 * weights per tile, each within [c_j(x) - e_j(x), c_j(x)] where c_j, e_j are S_j's count and
 * error when S_j monitors x, and (floor_j, floor_j) when it does not (true weight in [0, floor_j]).
 * Summing gives count and error of x in the union, and sum(floor_j) bounds any item no summary
 * monitors. Listing the k highest union counts, an unlisted item is either not monitored
 * (<= sum of floors) or monitored with a count <= the (k+1)-th count: `unlistedAtMost` is the
 * larger of the two, and an item whose true weight exceeds it has a count above the (k+1)-th,
 * so it is listed (the heavy-hitter guarantee). When every floor is 0 each tile is exact, and
 * so is the union.
 */
