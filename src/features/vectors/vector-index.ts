/**
 * VectorIndex: the vectors of one view field and their nearest-neighbour search.
 *
 * Vectors are kept exactly, as float32, in an arena of fixed-size chunks addressed by slot
 * (freed slots are reused); for cosine each slot also keeps its norm. Below
 * `bruteForceBelow` live vectors a search is an exact scan of the arena (faster than a graph
 * at that size, and exact). From that size on an HNSW graph (ann-index.ts) proposes
 * candidates, which are re-ranked here with exact float32 distances; the graph is built from
 * the arena a batch at a time as inserts arrive (GRAPH_BATCH: a search scans the newest slots
 * not in it yet), and after a restore in the background (`catchUp`).
 *
 * A search takes an `accept` predicate (the view's liveness and `where:` filter). It asks the
 * graph for candidatesFor(size) candidates; when only a fraction f of them pass, it asks again
 * for that many divided by f (so that as many passing candidates are weighed as an unfiltered
 * search weighs), or four times as many when none passed; when that would approach the whole
 * index it scans the arena instead, so k results come back whenever k vectors pass.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { AnnIndex } from './ann-index.js';
import { dotAt, l2sqAt, norm, type VectorMetric } from './distance.js';

/**
 * Live vectors from which the graph answers searches (an exact scan below). The scan costs
 * about 0.27 us per vector at 128 dimensions and a graph search about 0.3 ms at 100k
 * (`npm run bench -- vectors`), so below about a thousand vectors the scan is the faster.
 */
export const BRUTE_FORCE_BELOW = 1_024;
/** Vectors per arena chunk. */
const CHUNK = 4_096;
/**
 * New slots join the graph this many at a time (one call on every core); a search scans the
 * ones not in it yet exactly. While the graph lags further (just created), it catches up at
 * most CATCH_UP slots per insert and searches scan everything.
 */
const GRAPH_BATCH = 256;
const CATCH_UP = 1_024;
/** Threads that add an insert batch to the graph (0: every core; the event loop waits for the batch either way). */
const INSERT_THREADS = 0;
/** Slots added to the graph per slice of a background rebuild. */
const REBUILD_BATCH = 8_192;
/** Candidates first asked of the graph: this many times k, at least candidatesFor(size). */
const OVERSAMPLE = 2;

/**
 * Candidates the graph is asked for (and so its search breadth, ef): 64 up to about 100k
 * vectors, growing with the square root of the size to 200 at 1M (where 200 re-ranked
 * candidates gave recall@10 0.97 on clustered 128-dimension data, 64 gave 0.83), 256 at most.
 */
export function candidatesFor(size: number): number {
  return Math.min(256, Math.max(64, Math.round(200 * Math.sqrt(size / 1_000_000))));
}
/** A filtered search scans the arena rather than ask the graph for more than this fraction of the index. */
const WIDEST_FRACTION = 0.2;

export interface VectorHit {
  slot: number;
  entity: string;
  distance: number;
}

export interface VectorIndexOptions {
  /** Live vectors from which the graph answers searches; default BRUTE_FORCE_BELOW. */
  bruteForceBelow?: number;
}

export class VectorIndex {
  readonly bruteForceBelow: number;
  private chunks: Float32Array[] = [];
  private norms = new Float32Array(0);
  private owners: (string | undefined)[] = [];
  private free: number[] = [];
  private highWater = 0;
  private live = 0;
  private ann: AnnIndex | undefined;
  /** The graph holds every live slot below this one. */
  private cursor = 0;
  /** Inserts do not build the graph (a restore under way); catchUp() does it after. */
  private deferred = false;

  constructor(
    readonly dims: number,
    readonly metric: VectorMetric,
    options: VectorIndexOptions = {},
  ) {
    this.bruteForceBelow = options.bruteForceBelow ?? BRUTE_FORCE_BELOW;
  }

  get size(): number {
    return this.live;
  }

  /** True when searches use the graph (it exists and lacks at most the newest GRAPH_BATCH slots). */
  get usesGraph(): boolean {
    return this.ann !== undefined && this.highWater - this.cursor <= GRAPH_BATCH && this.live >= this.bruteForceBelow;
  }

  /** Stores `vector` (dims finite numbers) for `entity`; returns its slot. */
  add(entity: string, vector: ArrayLike<number>): number {
    const slot = this.free.length > 0 ? this.free.pop()! : this.grow();
    this.owners[slot] = entity;
    this.write(slot, vector);
    this.live++;
    if (this.ann !== undefined && slot < this.cursor) this.ann.add(slot, this.view(slot));
    this.progress();
    return slot;
  }

  /** Replaces the vector in `slot`. */
  replace(slot: number, vector: ArrayLike<number>): void {
    this.write(slot, vector);
    if (this.ann !== undefined && slot < this.cursor) {
      this.ann.remove(slot);
      this.ann.add(slot, this.view(slot));
    }
    this.progress();
  }

  /** Frees `slot`: its vector is in no result from now on. */
  remove(slot: number): void {
    if (this.owners[slot] === undefined) return;
    this.owners[slot] = undefined;
    this.live--;
    this.free.push(slot);
    if (this.ann !== undefined && slot < this.cursor) this.ann.remove(slot);
  }

  entity(slot: number): string | undefined {
    return this.owners[slot];
  }

  /** The vector in `slot` as plain numbers (a copy). */
  vector(slot: number): number[] {
    return Array.from(this.view(slot));
  }

  /** The vector in `slot`: a view into the arena, valid until the slot changes. */
  view(slot: number): Float32Array {
    const at = (slot % CHUNK) * this.dims;
    return this.chunks[Math.floor(slot / CHUNK)].subarray(at, at + this.dims);
  }

  clear(): void {
    this.chunks = [];
    this.norms = new Float32Array(0);
    this.owners = [];
    this.free = [];
    this.highWater = 0;
    this.live = 0;
    this.ann = undefined;
    this.cursor = 0;
  }

  /** Until catchUp(), inserts only fill the arena (searches scan it): for loading a snapshot. */
  deferGraph(): void {
    this.deferred = true;
  }

  /**
   * Builds the graph over every slot it lacks, a batch at a time (all cores) with a turn of the
   * event loop between batches; searches scan the arena until it is done. Resolves with the
   * milliseconds spent.
   */
  async catchUp(): Promise<number> {
    const started = performance.now();
    this.deferred = false;
    if (this.live < this.bruteForceBelow) return 0;
    this.ann ??= new AnnIndex(this.dims, this.metric);
    while (this.cursor < this.highWater) {
      this.buildStep(REBUILD_BATCH, 0);
      await nextTurn();
    }
    return performance.now() - started;
  }

  /**
   * The `k` nearest vectors to `query` among the slots `accept` takes (all when absent),
   * nearest first, with exact distances. Exact below bruteForceBelow; above, approximate.
   */
  search(query: ArrayLike<number>, k: number, accept?: (slot: number) => boolean): VectorHit[] {
    if (k <= 0 || this.live === 0) return [];
    const q = Float32Array.from(query);
    const qNorm = norm(q);
    if (!this.usesGraph) return this.scan(q, qNorm, k, accept);
    // The newest slots, not in the graph yet: scanned.
    const tail: VectorHit[] = [];
    for (let slot = this.cursor; slot < this.highWater; slot++) {
      const entity = this.owners[slot];
      if (entity === undefined || (accept !== undefined && !accept(slot))) continue;
      tail.push({ slot, entity, distance: this.distance(q, qNorm, slot) });
    }
    const candidates = Math.max(k * OVERSAMPLE, candidatesFor(this.live));
    let want = candidates;
    for (;;) {
      const slots = this.ann!.search(q, want);
      const hits: VectorHit[] = [...tail];
      // How far the graph's candidates reach: a scanned tail vector beyond it may not displace a nearer one the graph has not given yet.
      let reach = 0;
      for (const slot of slots) {
        const entity = this.owners[slot];
        if (entity === undefined) continue;
        const distance = this.distance(q, qNorm, slot);
        if (distance > reach) reach = distance;
        if (accept === undefined || accept(slot)) hits.push({ slot, entity, distance });
      }
      hits.sort(byDistance);
      const exhausted = slots.length < want;
      const passed = hits.length - tail.length;
      // Wide enough: as many passing candidates weighed as an unfiltered search weighs.
      const needed = passed === 0 ? want * 4 : Math.ceil((candidates * slots.length) / passed);
      if (hits.length >= k && (exhausted || (hits[k - 1].distance <= reach && want >= needed))) return hits.slice(0, k);
      if (exhausted) return this.scan(q, qNorm, k, accept);
      want = Math.max(want * 2, needed);
      if (want > this.live * WIDEST_FRACTION) return this.scan(q, qNorm, k, accept);
    }
  }

  /** Exact search: every live slot, keeping the k nearest that `accept` takes (asked only of slots near enough to enter). */
  private scan(q: Float32Array, qNorm: number, k: number, accept?: (slot: number) => boolean): VectorHit[] {
    // Equal distances by entity, at the k-th place too: the answer does not depend on where vectors sit.
    const heap = new MaxHeap(k, (slot) => this.owners[slot]!);
    for (let slot = 0; slot < this.highWater; slot++) {
      if (this.owners[slot] === undefined) continue;
      const d = this.distance(q, qNorm, slot);
      if (heap.full && !heap.enters(d, slot)) continue;
      if (accept !== undefined && !accept(slot)) continue;
      heap.push(d, slot);
    }
    return heap.drain().map(([distance, slot]) => ({
      slot,
      entity: this.owners[slot]!,
      distance,
    }));
  }

  private distance(q: Float32Array, qNorm: number, slot: number): number {
    const chunk = this.chunks[Math.floor(slot / CHUNK)];
    const at = (slot % CHUNK) * this.dims;
    switch (this.metric) {
      case 'l2':
        return Math.sqrt(l2sqAt(q, chunk, at));
      case 'ip':
        return 1 - dotAt(q, chunk, at);
      case 'cosine':
        return 1 - dotAt(q, chunk, at) / (qNorm * this.norms[slot]);
    }
  }

  private write(slot: number, vector: ArrayLike<number>): void {
    const chunk = this.chunks[Math.floor(slot / CHUNK)];
    const at = (slot % CHUNK) * this.dims;
    let s = 0;
    for (let i = 0; i < this.dims; i++) {
      const x = Math.fround(vector[i]);
      chunk[at + i] = x;
      s += x * x;
    }
    this.norms[slot] = Math.sqrt(s);
  }

  private grow(): number {
    const slot = this.highWater++;
    if (slot % CHUNK === 0) this.chunks.push(new Float32Array(CHUNK * this.dims));
    if (slot >= this.norms.length) {
      const bigger = new Float32Array(Math.max(CHUNK, this.norms.length * 2));
      bigger.set(this.norms);
      this.norms = bigger;
    }
    return slot;
  }

  /** After an insert: starts the graph at the threshold, and builds a step of it while it lags. */
  private progress(): void {
    if (this.deferred) return;
    if (this.ann === undefined) {
      if (this.live < this.bruteForceBelow) return;
      this.ann = new AnnIndex(this.dims, this.metric);
    }
    const lag = this.highWater - this.cursor;
    if (lag >= GRAPH_BATCH) this.buildStep(Math.min(lag, CATCH_UP), INSERT_THREADS);
  }

  /** Adds the live slots of the next `count` to the graph, on `threads` threads (0: every core). */
  private buildStep(count: number, threads: number): void {
    const end = Math.min(this.highWater, this.cursor + count);
    const slots: number[] = [];
    for (let s = this.cursor; s < end; s++) if (this.owners[s] !== undefined) slots.push(s);
    const batch = new Float32Array(slots.length * this.dims);
    slots.forEach((s, i) => batch.set(this.view(s), i * this.dims));
    this.ann!.addMany(slots, batch, threads);
    this.cursor = end;
  }
}

function byDistance(a: VectorHit, b: VectorHit): number {
  return a.distance - b.distance || (a.entity < b.entity ? -1 : a.entity > b.entity ? 1 : 0);
}

/** A bounded max-heap of (distance, slot): keeps the `capacity` nearest, equal distances by the slots' entities. */
class MaxHeap {
  private readonly d: number[] = [];
  private readonly s: number[] = [];

  constructor(
    private readonly capacity: number,
    private readonly entityOf: (slot: number) => string,
  ) {}

  get full(): boolean {
    return this.d.length >= this.capacity;
  }

  /** True when (distance, slot) ranks before the farthest kept: it would enter a full heap. */
  enters(distance: number, slot: number): boolean {
    return distance < this.d[0] || (distance === this.d[0] && this.entityOf(slot) < this.entityOf(this.s[0]));
  }

  push(distance: number, slot: number): void {
    if (!this.full) {
      this.d.push(distance);
      this.s.push(slot);
      this.up(this.d.length - 1);
    } else {
      this.d[0] = distance;
      this.s[0] = slot;
      this.down(0);
    }
  }

  /** Everything, nearest first (equal distances by entity). */
  drain(): [number, number][] {
    const name = this.entityOf;
    return this.d.map((d, i): [number, number] => [d, this.s[i]]).sort((a, b) => a[0] - b[0] || (name(a[1]) < name(b[1]) ? -1 : name(a[1]) > name(b[1]) ? 1 : 0));
  }

  /** True when entry i ranks after entry j (farther, or as far with a later entity). */
  private after(i: number, j: number): boolean {
    return this.d[i] > this.d[j] || (this.d[i] === this.d[j] && this.entityOf(this.s[i]) > this.entityOf(this.s[j]));
  }

  private up(i: number): void {
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.after(i, p)) break;
      this.swap(i, p);
      i = p;
    }
  }

  private down(i: number): void {
    const n = this.d.length;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < n && this.after(l, m)) m = l;
      if (r < n && this.after(r, m)) m = r;
      if (m === i) break;
      this.swap(i, m);
      i = m;
    }
  }

  private swap(a: number, b: number): void {
    [this.d[a], this.d[b]] = [this.d[b], this.d[a]];
    [this.s[a], this.s[b]] = [this.s[b], this.s[a]];
  }
}
