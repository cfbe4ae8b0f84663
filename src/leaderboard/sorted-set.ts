/*
 * SortedSet: Redis' ZSET semantics (ZADD, ZINCRBY, ZREVRANK, ZREVRANGE, ZRANGEBYSCORE,
 * ZCOUNT) as a plain in-process structure, plus "keep the max" updates, an optional
 * per-member TTL and an optional "first to reach the score ranks higher" tie rule.
 *
 * As in Redis t_zset.c, two structures hold the same members: a hash from member to member
 * id (MemberIndex, an open-addressing table) and an ordered structure keyed by (score,
 * tie rule), here a counted B+tree (counted-btree.ts) rather than Redis' skip list: it
 * takes a fraction of the cache misses per update. Every operation is O(log n) except
 * where noted; a score change that keeps the member inside its leaf is a shift within
 * that leaf (the B-tree form of Redis zslUpdateScore); any other change removes the entry
 * and inserts it again from the root. A set holds at most MAX_MEMBERS (2^24 - 1) members.
 *
 * Order: ascending by score; equal scores by the UTF-8 bytes of the member (ties: 'redis',
 * identical to Redis), or (ties: 'first') the member that reached the score first ranks
 * higher, i.e. sorts later in ascending order. "First" is in event time when updates pass
 * one: the member's change time (below) is its stamp, and equal stamps order by member bytes
 * as with 'redis'. A member's updates all come from one Kafka partition, so this order is the
 * same however partitions interleave, and sets of different partitions (cluster members) can
 * be merged by it. A set updated without times orders ties by the order updates are applied
 * here. Scores are finite or infinite doubles, never NaN; -0 is stored as 0.
 *
 * Change times: each member keeps the event time of the update that last changed its score
 * (a new member: its first update), the time its score reflects, in one Float64 per id
 * (`changedAt`, allocated on the first update that passes a time, so a set used without
 * times costs nothing). A late update that changes the score does not move it back: it is
 * the newest time among the updates that changed the score. An update that leaves the score
 * as it was (ZADD of the same score, "max" below the best) leaves it too, which is what
 * makes "did the top N change?" (touched) cover it: the time changes only with the score.
 *
 * Invariants: ids.get(m) = x <=> id x is in the tree and named m; with a TTL, for a
 * live member id i, updatedAt[i] is its latest update time and queuedAt[i] the
 * time of its one current entry in the expiry heap (NaN when it has none); for a live id
 * x < changedAt.length, changedAt[x] is its change time or NaN when none was given.
 */
import { ExpiryHeap } from './expiry-heap.js';
import { MemberIndex } from './member-index.js';
import { CountedBTree, type TieOrder } from './counted-btree.js';

export type { TieOrder } from './counted-btree.js';

export interface SortedSetOptions {
  /** Tie rule for equal scores; default 'redis' (member bytes, as ZREVRANGE). */
  ties?: TieOrder;
  /** Accepted for compatibility; the B-tree draws no random levels. */
  seed?: number;
  /**
   * Seed of the member hash table. It changes no answer, only where members land, so the
   * default is random: colliding member names cannot be crafted in advance.
   */
  hashSeed?: number;
  /** Expected number of members, to size the arrays once. */
  capacity?: number;
  /** Member TTL in ms: a member not updated for ttlMs leaves at the next expire(now). */
  ttlMs?: number;
  /** Record in `touched` the highest rank each mutation could have moved (costs a rank search on in-place updates). */
  trackTouches?: boolean;
}

export interface Entry {
  member: string;
  score: number;
}

/** An entry with the event time of the update that last changed its score (NaN: none was given). */
export interface TimedEntry extends Entry {
  changedAt: number;
}

/** An entry with its 0-based rank from the highest (0 = highest, as ZREVRANK). */
export interface RankedEntry extends Entry {
  rank: number;
}

export interface RangeByScoreOptions {
  /** Entries to skip from the start of the range; default 0. */
  offset?: number;
  /** Most entries returned; negative or absent = all (as ZRANGEBYSCORE LIMIT). */
  limit?: number;
  /** Highest first (ZREVRANGEBYSCORE); default lowest first. */
  rev?: boolean;
}

/** One member as written to and read from a snapshot. */
export interface SortedSetRecord {
  member: string;
  score: number;
  /** Last update time (epoch ms) with a TTL, else NaN. */
  updatedAt: number;
  /** With ties: 'first', when it reached its score (larger = later), else 0. */
  order: number;
  /** Event time of the update that last changed the score; NaN (or absent, from older snapshots) when unknown. */
  changedAt?: number;
}

export class SortedSet {
  private readonly ids: MemberIndex;
  private readonly list: CountedBTree;
  private readonly firstWins: boolean;
  /** Counter behind `order` stamps for ties: 'first'. */
  private seq = 0;
  private readonly ttlMs: number;
  private updatedAt: Float64Array;
  private queuedAt: Float64Array;
  /** Per id: the change time (see header); empty until an update passes a time. */
  private changedAt = new Float64Array(0);
  private readonly heap: ExpiryHeap | undefined;
  private readonly track: boolean;
  /**
   * After each mutation: the smallest 0-based rank from the highest whose entry may have
   * changed (score, member or position), or -1 when nothing changed. Kept only with
   * `trackTouches`; lets a subscriber decide "did the top N change?" without reading it.
   */
  touched = -1;

  constructor(options: SortedSetOptions = {}) {
    this.firstWins = options.ties === 'first';
    this.list = new CountedBTree(options.ties ?? 'redis', options.capacity);
    this.ids = new MemberIndex(this.list, options.hashSeed ?? (Math.random() * 2 ** 32) >>> 0, options.capacity);
    const ttl = options.ttlMs;
    if (ttl !== undefined && !(ttl > 0)) throw new RangeError(`ttlMs must be positive, got ${ttl}`);
    this.ttlMs = ttl ?? 0;
    this.heap = ttl ? new ExpiryHeap() : undefined;
    this.updatedAt = new Float64Array(0);
    this.queuedAt = new Float64Array(0);
    this.track = options.trackTouches ?? false;
  }

  /** Number of members. */
  get size(): number {
    return this.list.length;
  }

  /**
   * Sets member's score (ZADD); `now` (event time, epoch ms) is required with a TTL and, when
   * given, becomes the change time if the score changes. True when the member is new.
   */
  set(member: string, score: number, now?: number): boolean {
    const id = this.ids.get(member);
    if (id === 0) {
      this.insert(member, score, now);
      return true;
    }
    this.rescore(id, score, now);
    return false;
  }

  /** Alias of set (ZADD): true when the member is new. */
  add(member: string, score: number, now?: number): boolean {
    return this.set(member, score, now);
  }

  /** Adds delta to member's score, creating it at delta (ZINCRBY); returns the new score. */
  incr(member: string, delta: number, now?: number): number {
    const id = this.ids.get(member);
    if (id === 0) return this.insert(member, delta, now);
    return this.rescore(id, this.list.scoreOf(id) + delta, now);
  }

  /** Keeps the larger of member's score and `score`, creating it if absent; returns the score kept. */
  max(member: string, score: number, now?: number): number {
    const id = this.ids.get(member);
    if (id === 0) return this.insert(member, score, now);
    const old = this.list.scoreOf(id);
    return this.rescore(id, score > old ? score : old, now);
  }

  /** Removes member (ZREM); true when it was present. */
  remove(member: string): boolean {
    const id = this.ids.get(member);
    if (id === 0) return false;
    this.drop(id);
    return true;
  }

  /** Member's score, or undefined when absent (ZSCORE). */
  score(member: string): number | undefined {
    const id = this.ids.get(member);
    return id === 0 ? undefined : this.list.scoreOf(id);
  }

  /** True when member is present. */
  has(member: string): boolean {
    return this.ids.get(member) !== 0;
  }

  /** Event time of the update that last changed member's score: undefined when absent, NaN when no time was given. */
  changedAtOf(member: string): number | undefined {
    const id = this.ids.get(member);
    if (id === 0) return undefined;
    return id < this.changedAt.length ? this.changedAt[id] : NaN;
  }

  /** Member's 0-based rank from the highest score (ZREVRANK), or undefined when absent. */
  revRank(member: string): number | undefined {
    const id = this.ids.get(member);
    return id === 0 ? undefined : this.list.length - 1 - this.list.rankOf(id);
  }

  /**
   * Number of members ranked above (score, member) from the highest, whether or not the
   * member is in this set: the building block of a rank across several sets (partitions),
   * 1 + the sum of each set's countAbove. With ties 'first', `stamp` is the order stamp of
   * the member's score (see stampOf; larger = reached later) and must be comparable with
   * this set's stamps. O(log n).
   */
  countAbove(score: number, member: string, stamp = 0): number {
    if (Number.isNaN(score)) throw new RangeError('score is not a number (NaN)');
    return this.list.countAbove(score, stamp, member);
  }

  /** ties 'first': the order stamp of member's current score (larger = reached later); undefined when absent, 0 with ties 'redis'. */
  stampOf(member: string): number | undefined {
    const id = this.ids.get(member);
    if (id === 0) return undefined;
    return this.firstWins ? this.list.stampOf(id) : 0;
  }

  /** Member's 0-based rank from the lowest score (ZRANK), or undefined when absent. */
  rank(member: string): number | undefined {
    const id = this.ids.get(member);
    return id === 0 ? undefined : this.list.rankOf(id);
  }

  /**
   * Entries at 0-based ranks start..stop (inclusive) from the highest (ZREVRANGE);
   * negative indices count from the lowest (-1 = lowest). O(log n + k).
   */
  revRange(start: number, stop: number): Entry[] {
    return this.rangeOf(start, stop, true);
  }

  /** Entries at 0-based ranks start..stop (inclusive) from the lowest (ZRANGE). O(log n + k). */
  range(start: number, stop: number): Entry[] {
    return this.rangeOf(start, stop, false);
  }

  /** revRange() with each entry's change time (see header). O(log n + k). */
  revRangeTimed(start: number, stop: number): TimedEntry[] {
    return this.rangeOf(start, stop, true, true) as TimedEntry[];
  }

  private rangeOf(start: number, stop: number, rev: boolean, timed = false): Entry[] {
    const n = this.list.length;
    if (start < 0) start += n;
    if (stop < 0) stop += n;
    if (start < 0) start = 0;
    if (start > stop || start >= n) return [];
    if (stop >= n) stop = n - 1;
    return this.walk(rev ? n - 1 - start : start, stop - start + 1, rev, timed);
  }

  /** k entries from ascending rank `from`, moving down (rev) or up; with `timed`, TimedEntry objects. */
  private walk(from: number, k: number, rev: boolean, timed = false): Entry[] {
    const list = this.list;
    const out: (Entry | TimedEntry)[] = new Array(k);
    const times = this.changedAt;
    let x = list.byRank(from);
    for (let i = 0; i < k; i++) {
      out[i] = timed ? { member: list.nameOf(x), score: list.scoreOf(x), changedAt: x < times.length ? times[x] : NaN } : { member: list.nameOf(x), score: list.scoreOf(x) };
      x = rev ? list.previous(x) : list.next(x);
    }
    return out;
  }

  /**
   * Entries with min <= score <= max, lowest first (or highest first with `rev`), after
   * skipping `offset` and at most `limit` of them (ZRANGEBYSCORE ... LIMIT). O(log n + k).
   */
  rangeByScore(min: number, max: number, options: RangeByScoreOptions = {}): Entry[] {
    const offset = Math.max(0, options.offset ?? 0);
    const limit = options.limit ?? -1;
    const lo = this.list.countBelow(min, false);
    const hi = this.list.countBelow(max, true);
    let k = hi - lo - offset;
    if (limit >= 0 && limit < k) k = limit;
    if (k <= 0) return [];
    return options.rev ? this.walk(hi - 1 - offset, k, true) : this.walk(lo + offset, k, false);
  }

  /** Number of members with min <= score <= max (ZCOUNT). O(log n). */
  count(min: number, max: number): number {
    if (!(min <= max)) return 0;
    return this.list.countBelow(max, true) - this.list.countBelow(min, false);
  }

  /**
   * The member and up to `radius` entries on each side of it, highest first, each with
   * its 0-based rank from the highest; empty when the member is absent. O(log n + radius).
   */
  around(member: string, radius: number): RankedEntry[] {
    const r = this.revRank(member);
    if (r === undefined) return [];
    const start = Math.max(0, r - Math.max(0, radius));
    const entries = this.revRange(start, r + Math.max(0, radius));
    return entries.map((e, i) => ({ rank: start + i, member: e.member, score: e.score }));
  }

  /**
   * Removes members whose last update is at or before now - ttlMs; returns how many (and
   * sets `touched` to the highest rank removed). Amortised O(log n) per removed or updated member; a no-op without a TTL.
   */
  expire(now: number): number {
    const heap = this.heap;
    if (heap === undefined) return 0;
    const list = this.list;
    const cutoff = now - this.ttlMs;
    let removed = 0;
    let touched = Infinity;
    while (heap.size > 0 && heap.peekTime() <= cutoff) {
      const t = heap.peekTime();
      const x = heap.peekId();
      heap.pop();
      const i = x;
      if (this.queuedAt[i] !== t) continue; // superseded by a later entry for this node
      if (this.ids.get(list.nameOf(x)) !== x) {
        this.queuedAt[i] = NaN; // removed, and not reused since
        continue;
      }
      const last = this.updatedAt[i];
      if (last <= cutoff) {
        this.queuedAt[i] = NaN;
        this.drop(x);
        if (this.touched < touched) touched = this.touched;
        removed++;
      } else {
        this.queuedAt[i] = last;
        heap.push(last, x);
      }
    }
    // Each removal shifts only the ranks after it, so the smallest rank removed is where
    // the order first differs.
    if (this.track) this.touched = removed > 0 ? touched : -1;
    return removed;
  }

  /** Every member in ascending order, with what a snapshot needs to restore it. O(n). */
  *entries(): IterableIterator<SortedSetRecord> {
    const list = this.list;
    for (let x = list.head; x !== 0; x = list.next(x)) {
      const i = x;
      yield {
        member: list.nameOf(x),
        score: list.scoreOf(x),
        updatedAt: this.heap ? this.updatedAt[i] : NaN,
        order: this.firstWins ? list.stampOf(x) : 0,
        changedAt: x < this.changedAt.length ? this.changedAt[x] : NaN,
      };
    }
  }

  /** Adds or replaces one member exactly as a snapshot recorded it. */
  load(record: SortedSetRecord): void {
    this.remove(record.member);
    // A snapshot's JSON form turns NaN into null; both mean "no change time".
    const changed = typeof record.changedAt === 'number' ? record.changedAt : NaN;
    this.insert(record.member, record.score, this.heap ? record.updatedAt : undefined, record.order, changed);
    if (this.firstWins && record.order > this.seq) this.seq = record.order;
  }

  /** Removes every member. */
  clear(): void {
    this.list.clear();
    this.ids.clear();
    this.heap?.clear();
    this.queuedAt.fill(NaN);
    this.touched = -1;
  }

  /** Checks the tree and index invariants; throws on a broken one. O(n log n): tests only. */
  assertValid(): void {
    this.list.assertValid();
    if (this.ids.size !== this.list.length) throw new Error(`index has ${this.ids.size}, list ${this.list.length}`);
    for (const x of this.ids.handles()) if (this.ids.get(this.list.nameOf(x)) !== x) throw new Error(`node ${x} is not found by its name`);
  }

  private checkScore(score: number): number {
    if (Number.isNaN(score)) throw new RangeError('score is not a number (NaN)');
    return score === 0 ? 0 : score;
  }

  /** Creates member at score, its change time `changedAt` (default `now`); returns the score. */
  private insert(member: string, score: number, now: number | undefined, order?: number, changedAt = now): number {
    score = this.checkScore(score);
    const list = this.list;
    const x = list.alloc(member);
    list.insert(x, score, this.firstWins ? (order ?? now ?? ++this.seq) : 0);
    this.ids.add(member, x);
    if (this.heap) this.touchTime(x, now, true);
    // Ids are reused: a new member never inherits its id's previous time.
    if (changedAt !== undefined && !Number.isNaN(changedAt)) {
      this.growTimes(x);
      this.changedAt[x] = changedAt;
    } else if (x < this.changedAt.length) this.changedAt[x] = NaN;
    if (this.track) this.touched = list.length - 1 - list.rankOf(x);
    return score;
  }

  /** Moves present node x to `score`; returns it. */
  private rescore(x: number, score: number, now: number | undefined): number {
    score = this.checkScore(score);
    if (this.heap) this.touchTime(x, now, false);
    const list = this.list;
    const old = list.scoreOf(x);
    if (score === old) {
      if (this.track) this.touched = -1;
      return score;
    }
    if (now !== undefined) {
      // NaN (no time yet) compares false: the time is taken.
      if (x >= this.changedAt.length) this.growTimes(x);
      if (!(this.changedAt[x] >= now)) this.changedAt[x] = now;
    }
    // ties 'first': reached at its change time (the newest event time that changed the score), else now in arrival order.
    const stamp = this.firstWins ? (now !== undefined ? this.changedAt[x] : ++this.seq) : 0;
    if (!this.track) {
      list.move(x, score, stamp);
      return score;
    }
    // The highest rank touched is the higher of the old and new positions: a higher score
    // never moves a member down in ascending order (those below it stay below) and a lower
    // one never up, whatever the tie rule, so one rank search (before or after) is enough.
    if (score > old) {
      list.move(x, score, stamp);
      this.touched = list.length - 1 - list.rankOf(x);
    } else {
      this.touched = list.length - 1 - list.rankOf(x);
      list.move(x, score, stamp);
    }
    return score;
  }

  private drop(x: number): void {
    const list = this.list;
    const rank = this.track ? list.rankOf(x) : 0;
    list.remove(x);
    if (this.track) this.touched = list.length - rank;
    this.ids.remove(list.nameOf(x));
    list.release(x);
  }

  /** Makes changedAt hold id x, new slots NaN. */
  private growTimes(x: number): void {
    if (x < this.changedAt.length) return;
    const size = Math.max(16, x + 1, Math.ceil(this.list.idLimit * 1.5));
    const grown = new Float64Array(size).fill(NaN);
    grown.set(this.changedAt);
    this.changedAt = grown;
  }

  /** Records an update of node x at `now` for the TTL; queues x if it has no current heap entry. */
  private touchTime(x: number, now: number | undefined, fresh: boolean): void {
    if (now === undefined || Number.isNaN(now)) throw new TypeError('now (epoch ms) is required when the set has a TTL');
    const i = x;
    if (i >= this.updatedAt.length) {
      const size = Math.max(16, Math.ceil(this.list.idLimit * 1.5));
      const grow = (a: Float64Array, fill: number) => {
        const b = new Float64Array(size).fill(fill);
        b.set(a);
        return b;
      };
      this.updatedAt = grow(this.updatedAt, 0);
      this.queuedAt = grow(this.queuedAt, NaN);
    }
    if (fresh || now > this.updatedAt[i]) this.updatedAt[i] = now;
    const last = this.updatedAt[i];
    const q = this.queuedAt[i];
    if (Number.isNaN(q) || last < q) {
      this.queuedAt[i] = last;
      this.heap!.push(last, x);
    }
  }
}
