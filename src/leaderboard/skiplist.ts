/*
 * An order-statistic skip list whose nodes live in one growable ArrayBuffer.
 *
 * This is Pugh's skip list ("Skip Lists: A Probabilistic Alternative to Balanced Trees",
 * CACM 1990) with the three changes Redis makes in src/t_zset.c: scores may repeat, ties
 * are ordered by the member, and level 0 has a backward link so ranges can run from the
 * top down. As in t_zset.c every forward link carries a span (how many level-0 steps it
 * jumps), which makes rank and select O(log n). Order is ascending; "rev" ranks (highest
 * first, as ZREVRANK) are computed by the owner as length - 1 - rank.
 *
 * Layout, chosen for bytes per member and for one cache miss per search step (as a Redis
 * zskiplistNode): a node is a block of int32 slots at an even offset in `i32` (aliased by
 * `f64` for the doubles), and the block offset is the node's handle:
 *   [0,1] score (f64[x >> 1])      [2] member id << 7 | wide flag << 6 | level
 *   [3] level-0 backward           [4] level-0 forward
 *   [5] backward on the node's top level (levels >= 2; padding for level 1)
 *   [6,7] tie key (f64[(x >> 1) + 3])
 *   [8 + 2(i-1)] forward, [9 + 2(i-1)] span of level i >= 1
 * so a level-1 node takes 32 bytes, level 2 40 bytes. Level-0 spans are always 1 and are
 * not stored. The member id indexes the owner's dense arrays (names, TTL times). A node
 * keeps its block and id for as long as it lives, and a released node is reused whole by
 * the next alloc(): levels are drawn independently of keys, so live levels stay geometric
 * and the buffer needs no allocator. The header is the block at offset 0 (MAX_LEVEL
 * levels); 0 as a link means "none".
 *
 * Two additions to Redis' list keep member strings off the hot path (see the notes at
 * the end of the file): backward links on each node's top level, so rank reads and
 * unlinking walk back without comparing keys, and a tie key per node, so most equal
 * scores are settled without reading the member strings.
 *
 * Invariants: for every level i and node x, fwd(x, i) is the next node of level > i in
 * key order (0 at the end) and span(x, i) its distance in level-0 steps (to the end when
 * fwd is 0, as Redis keeps it); backward(first node) = 0; for a node of level L >= 2 the
 * top backward link is the previous node of level >= L (0 = header); `level` is the
 * highest level in use (>= 1); with ties 'redis' every non-wide node's tie key is
 * computed against the current common prefix. The owner maps member strings to nodes and
 * never links a node twice.
 */
import { compareUtf8 } from './utf8-order.js';

/** Enough levels for 2^64 nodes at p = 1/4 (Redis ZSKIPLIST_MAXLEVEL, server.h). */
export const MAX_LEVEL = 32;

/**
 * Level promotion takes two random bits both zero: p = 1/4, as Redis ZSKIPLIST_P. That
 * gives 1.33 levels per node on average and about 2 log4(n) = log2(n) steps per search.
 */
const PROMOTE_MASK = 3;

/** Node block slots (int32). */
const META = 2;
const BACK = 3;
const NEXT = 4;
const TOP_BACK = 5;
/** The tie key is the double at f64 index (x >> 1) + KEY. */
const KEY = 3;
/** First (forward, span) pair, for level 1. */
const UP = 8;
/** Bytes of member UTF-8 in a tie key: 48 bits, exact in a double. */
const KEY_BYTES = 6;
/** Level in the low 6 bits of META (1..MAX_LEVEL <= 63). */
const LEVEL_MASK = 0x3f;
/** META flag: the member has a code unit >= U+D800, where UTF-16 and UTF-8 orders can differ. */
const WIDE = 0x40;
/** The member id sits above the level and flag bits of META. */
const ID_SHIFT = 7;
/** Ids must fit the 24 bits left in META's positive int32: 16.7M members per set. */
export const MAX_MEMBERS = (1 << (31 - ID_SHIFT)) - 1;
/** Code units from U+D800 up: surrogates and U+E000..U+FFFF (see utf8-order.ts). */
const WIDE_CHARS = /[\ud800-\uffff]/;

/** Slots of a node of `level` levels: even, so every score stays 8-byte aligned. */
function blockSize(level: number): number {
  return UP + 2 * (level - 1);
}

/** Default first buffer size in bytes when the owner gives no capacity hint. */
const DEFAULT_BYTES = 1024;
/** Average bytes per node: 32 + 8/3 for the expected 1/3 extra level at p = 1/4. */
const BYTES_PER_NODE = 35;
/** Buffer growth factor: 1.5 bounds the unused tail at a third of the buffer, not half. */
const GROWTH = 1.5;

/** How ties between equal scores are ordered. */
export type TieOrder = 'redis' | 'first';

/** mulberry32: a tiny seeded PRNG, so the same inserts build the same list every run. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (t ^ (t >>> 14)) >>> 0;
  };
}

export class SkipList {
  private i32: Int32Array;
  private f64: Float64Array;
  /** First unused slot of the buffer. */
  private top: number;
  /** Member string of each id ('' for released ids); id 0 is the header. */
  readonly names: string[] = [''];
  /** UTF-8 of the longest prefix common to every non-wide member seen (ties 'redis'). */
  private prefix: Uint8Array | null = null;
  private readonly encoder = new TextEncoder();
  /** Released nodes, reused before new blocks are cut. */
  private readonly free: number[] = [];
  private nextId = 1;
  /** Highest level in use (>= 1). */
  level = 1;
  /** Number of linked nodes. */
  length = 0;
  /** Last node in order (0 when empty). */
  tail = 0;
  private readonly firstWins: boolean;
  private readonly random: () => number;
  /** Scratch for searches: predecessors and their ranks per level (Redis update[], rank[]). */
  private readonly update = new Int32Array(MAX_LEVEL);
  private readonly rankAt = new Int32Array(MAX_LEVEL);

  constructor(ties: TieOrder = 'redis', seed = 1, capacity = 0) {
    this.firstWins = ties === 'first';
    this.random = mulberry32(seed);
    const bytes = Math.max(DEFAULT_BYTES, 4 * blockSize(MAX_LEVEL) + capacity * BYTES_PER_NODE);
    const buf = new ArrayBuffer(bytes - (bytes % 8));
    this.i32 = new Int32Array(buf);
    this.f64 = new Float64Array(buf);
    this.i32[META] = MAX_LEVEL;
    this.top = blockSize(MAX_LEVEL);
  }

  /** Takes an unlinked node for `name`; set its score (and, ties 'first', stamp) before link(). */
  alloc(name: string): number {
    let x: number;
    let id: number;
    if (this.free.length > 0) {
      x = this.free.pop()!;
      id = this.i32[x + META] >>> ID_SHIFT;
    } else {
      if (this.nextId > MAX_MEMBERS) throw new RangeError(`a sorted set holds at most ${MAX_MEMBERS} members`);
      let level = 1;
      while (level < MAX_LEVEL && (this.random() & PROMOTE_MASK) === 0) level++;
      const size = blockSize(level);
      if (this.top + size > this.i32.length) this.grow(size);
      x = this.top;
      this.top += size;
      id = this.nextId++;
      this.i32[x + META] = (id << ID_SHIFT) | level;
    }
    const wide = WIDE_CHARS.test(name);
    this.i32[x + META] = (this.i32[x + META] & ~WIDE) | (wide ? WIDE : 0);
    this.names[id] = name;
    if (!this.firstWins && !wide) {
      const bytes = this.utf8(name);
      this.narrowPrefix(bytes);
      this.f64[(x >> 1) + KEY] = this.tieKey(bytes);
    }
    return x;
  }

  private utf8(name: string): Uint8Array {
    return this.encoder.encode(name);
  }

  /** Tie key of a member's UTF-8 under the current common prefix (see the header). */
  private tieKey(bytes: Uint8Array): number {
    const from = this.prefix!.length;
    let key = 0;
    for (let k = 0; k < KEY_BYTES; k++) key = key * 256 + (from + k < bytes.length ? bytes[from + k] : 0);
    return key;
  }

  /** Shrinks the common prefix to fit `bytes`; when it shrinks, recomputes every linked key. */
  private narrowPrefix(bytes: Uint8Array): void {
    const prefix = this.prefix;
    if (prefix === null) {
      this.prefix = bytes.slice();
      return;
    }
    let n = 0;
    while (n < prefix.length && n < bytes.length && prefix[n] === bytes[n]) n++;
    if (n === prefix.length) return;
    this.prefix = prefix.slice(0, n);
    const i32 = this.i32;
    for (let x = i32[NEXT]; x !== 0; x = i32[x + NEXT]) {
      if ((i32[x + META] & WIDE) === 0) this.f64[(x >> 1) + KEY] = this.tieKey(this.utf8(this.names[i32[x + META] >>> ID_SHIFT]));
    }
  }

  /** ties 'first': when node x reached its score (larger = later). */
  stampOf(x: number): number {
    return this.f64[(x >> 1) + KEY];
  }

  /** ties 'first': sets when node x reached its score; only on an unlinked node, or when inOrder(x) holds after. */
  setStamp(x: number, stamp: number): void {
    this.f64[(x >> 1) + KEY] = stamp;
  }

  /** Returns an unlinked node for reuse. */
  release(x: number): void {
    this.names[this.i32[x + META] >>> ID_SHIFT] = '';
    this.free.push(x);
  }

  private grow(need: number): void {
    const slots = Math.max(Math.ceil(this.i32.length * GROWTH), this.top + need);
    const buf = new ArrayBuffer(8 * Math.ceil(slots / 2));
    const i32 = new Int32Array(buf);
    i32.set(this.i32.subarray(0, this.top));
    this.i32 = i32;
    this.f64 = new Float64Array(buf);
  }

  /** One past the highest member id handed out: the bound for the owner's id arrays. */
  get idLimit(): number {
    return this.nextId;
  }

  /** Member id of node x. */
  idOf(x: number): number {
    return this.i32[x + META] >>> ID_SHIFT;
  }

  /** Member string of node x. */
  nameOf(x: number): string {
    return this.names[this.i32[x + META] >>> ID_SHIFT];
  }

  /** Score of node x. */
  scoreOf(x: number): number {
    return this.f64[x >> 1];
  }

  /** Sets the score of node x; only on an unlinked node, or when inOrder(x) holds after. */
  setScore(x: number, score: number): void {
    this.f64[x >> 1] = score;
  }

  /** Bytes held by the node buffer (for memory reports). */
  get bytes(): number {
    return this.i32.byteLength;
  }

  /** True when node a orders before node b (score, then the tie rule). */
  less(a: number, b: number): boolean {
    const sa = this.f64[a >> 1];
    const sb = this.f64[b >> 1];
    if (sa !== sb) return sa < sb;
    return this.tieLess(a, b);
  }

  private tieLess(a: number, b: number): boolean {
    const i32 = this.i32;
    const ma = i32[a + META];
    const mb = i32[b + META];
    const ka = this.f64[(a >> 1) + KEY];
    const kb = this.f64[(b >> 1) + KEY];
    if (this.firstWins) {
      // Descending output puts the earlier stamp first, so ascending order has it last.
      if (ka !== kb) return ka > kb;
    } else if (((ma | mb) & WIDE) === 0 && ka !== kb) return ka < kb;
    const na = this.names[ma >>> ID_SHIFT];
    const nb = this.names[mb >>> ID_SHIFT];
    // Below U+D800 UTF-16 code unit order is UTF-8 byte order: let the engine compare.
    if (((ma | mb) & WIDE) === 0) return na < nb;
    return compareUtf8(na, nb) < 0;
  }

  /**
   * Finds the predecessors of node t's key on every level into update[] / rankAt[],
   * starting at level i from whichever is further of the node found on level i + 1 and
   * `from[i]` (when given: nodes known to order before t, with ranks `fromRank`). Returns
   * the number of linked nodes ordered before t: its 0-based ascending rank.
   */
  private search(t: number, from?: Int32Array, fromRank?: Int32Array): number {
    const i32 = this.i32;
    const f64 = this.f64;
    const s = f64[t >> 1];
    const update = this.update;
    const rankAt = this.rankAt;
    let x = 0;
    let rank = 0;
    // The node that ended the walk on the level above: known not to order before t, and
    // often the next node on this level too, where comparing it again would cost a miss.
    let stop = -1;
    for (let i = this.level - 1; i >= 0; i--) {
      if (from !== undefined && fromRank![i] > rank) {
        x = from[i];
        rank = fromRank![i];
        stop = -1;
      }
      const slot = i === 0 ? NEXT : UP + 2 * (i - 1);
      const step = i === 0 ? 0 : 1;
      for (;;) {
        const f = i32[x + slot];
        if (f === 0 || f === stop) break;
        const fs = f64[f >> 1];
        if (fs < s || (fs === s && this.tieLess(f, t))) {
          rank += step === 0 ? 1 : i32[x + slot + 1];
          x = f;
        } else {
          stop = f;
          break;
        }
      }
      update[i] = x;
      rankAt[i] = rank;
    }
    return rank;
  }

  /** Links node x (unlinked, key set) into place; returns its 0-based ascending rank. */
  link(x: number): number {
    return this.insertAfterSearch(x, this.search(x));
  }

  private insertAfterSearch(x: number, rank: number): number {
    const i32 = this.i32;
    const update = this.update;
    const rankAt = this.rankAt;
    const level = i32[x + META] & LEVEL_MASK;
    if (level > this.level) {
      for (let i = this.level; i < level; i++) {
        update[i] = 0;
        rankAt[i] = 0;
        i32[UP + 2 * (i - 1) + 1] = this.length;
      }
      this.level = level;
    }
    for (let i = 1; i < level; i++) {
      const p = update[i] + UP + 2 * (i - 1);
      const o = x + UP + 2 * (i - 1);
      const n = i32[p];
      i32[o] = n;
      i32[p] = x;
      const d = rank - rankAt[i];
      i32[o + 1] = i32[p + 1] - d;
      i32[p + 1] = d + 1;
      // x is now the previous node on level i of a successor whose top level that is.
      if (n !== 0 && (i32[n + META] & LEVEL_MASK) === i + 1) i32[n + TOP_BACK] = x;
    }
    if (level > 1) i32[x + TOP_BACK] = update[level - 1];
    for (let i = level; i < this.level; i++) i32[update[i] + UP + 2 * (i - 1) + 1]++;
    const p0 = update[0];
    const n = i32[p0 + NEXT];
    i32[x + NEXT] = n;
    i32[p0 + NEXT] = x;
    i32[x + BACK] = p0;
    if (n !== 0) i32[n + BACK] = x;
    else this.tail = x;
    this.length++;
    return rank;
  }

  /** Unlinks node x (linked); returns its former 0-based ascending rank. No key comparisons. */
  unlink(x: number): number {
    const rank = this.locate(x);
    this.removeAfterSearch(x);
    return rank;
  }

  /**
   * Fills update[] / rankAt[] for linked node x as search(x) would, and returns its 0-based
   * ascending rank, by walking back from x on the top level of each node reached (see the
   * header) instead of comparing keys from the header down. Expected O(log n).
   */
  private locate(x: number): number {
    const i32 = this.i32;
    const update = this.update;
    const dist = this.rankAt; // distance back to x first; turned into positions at the end
    const top = this.level;
    const level = i32[x + META] & LEVEL_MASK;
    update[0] = i32[x + BACK];
    dist[0] = 1;
    let cur = update[0];
    let d = 1;
    if (level > 1) {
      cur = i32[x + TOP_BACK];
      d = i32[cur + UP + 2 * (level - 2) + 1];
      update[level - 1] = cur;
      dist[level - 1] = d;
      // Between x's top level and level 0 the predecessors lie ahead of the one above.
      for (let i = level - 2; i >= 1; i--) {
        let p = update[i + 1];
        let pd = dist[i + 1];
        for (;;) {
          const o = p + UP + 2 * (i - 1);
          if (i32[o] === x) break;
          pd -= i32[o + 1];
          p = i32[o];
        }
        update[i] = p;
        dist[i] = pd;
      }
    }
    // cur is the last node before x on level `level - 1`; every node between them is lower.
    let i = level;
    while (cur !== 0) {
      const lc = i32[cur + META] & LEVEL_MASK;
      for (; i < lc && i < top; i++) {
        update[i] = cur;
        dist[i] = d;
      }
      const t = lc - 1;
      const prev = t === 0 ? i32[cur + BACK] : i32[cur + TOP_BACK];
      d += t === 0 ? 1 : i32[prev + UP + 2 * (t - 1) + 1];
      cur = prev;
    }
    for (; i < top; i++) {
      update[i] = 0;
      dist[i] = d;
    }
    // d is now x's 1-based position; the header's is 0.
    for (let k = 0; k < top; k++) dist[k] = d - dist[k];
    return d - 1;
  }

  private removeAfterSearch(x: number): void {
    const i32 = this.i32;
    const update = this.update;
    for (let i = 1; i < this.level; i++) {
      const p = update[i] + UP + 2 * (i - 1);
      if (i32[p] === x) {
        const o = x + UP + 2 * (i - 1);
        const n = i32[o];
        i32[p + 1] += i32[o + 1] - 1;
        i32[p] = n;
        if (n !== 0 && (i32[n + META] & LEVEL_MASK) === i + 1) i32[n + TOP_BACK] = update[i];
      } else {
        i32[p + 1]--;
      }
    }
    const p0 = i32[x + BACK];
    const n = i32[x + NEXT];
    i32[p0 + NEXT] = n;
    if (n !== 0) i32[n + BACK] = p0;
    else this.tail = p0;
    i32[x + NEXT] = 0;
    i32[x + BACK] = 0;
    while (this.level > 1 && i32[UP + 2 * (this.level - 2)] === 0) this.level--;
    this.length--;
  }

  /** Scratch: the predecessors of a node before a move, reused as search fingers. */
  private readonly moveFrom = new Int32Array(MAX_LEVEL);
  private readonly moveRank = new Int32Array(MAX_LEVEL);

  /**
   * Moves linked node x to `score` (and, ties 'first', `stamp`); returns its former
   * 0-based ascending rank, and leaves the new one in `movedTo`. When the new key sorts
   * after the old one, the second search starts from the old predecessors (a finger
   * search), so a small increase costs little more than one search.
   */
  move(x: number, score: number, stamp: number): number {
    const from = this.locate(x);
    this.removeAfterSearch(x);
    const f64 = this.f64;
    const old = f64[x >> 1];
    f64[x >> 1] = score;
    if (this.firstWins) f64[(x >> 1) + KEY] = stamp;
    let to: number;
    if (score > old) {
      // Every old predecessor orders before the old key, so before the new one too, and
      // unlinking x did not change their ranks: they are valid places to resume from.
      this.moveFrom.set(this.update);
      this.moveRank.set(this.rankAt);
      to = this.search(x, this.moveFrom, this.moveRank);
    } else {
      to = this.search(x);
    }
    this.insertAfterSearch(x, to);
    this.movedTo = to;
    return from;
  }

  /** Ascending rank of the node after the last move(). */
  movedTo = 0;

  /**
   * True when node x (linked) still sits between its level-0 neighbours under its current
   * key, so a key change needs no relinking (Redis zslUpdateScore).
   */
  inOrder(x: number): boolean {
    const p = this.i32[x + BACK];
    const n = this.i32[x + NEXT];
    return (p === 0 || this.less(p, x)) && (n === 0 || this.less(x, n));
  }

  /** 0-based ascending rank of a linked node: O(log n), no key comparisons. */
  rankOf(x: number): number {
    return this.locate(x);
  }

  /** The linked node at 0-based ascending rank `rank` (0 <= rank < length): O(log n). */
  byRank(rank: number): number {
    const i32 = this.i32;
    const target = rank + 1;
    let x = 0;
    let traversed = 0;
    for (let i = this.level - 1; i >= 1; i--) {
      const slot = UP + 2 * (i - 1);
      for (;;) {
        const f = i32[x + slot];
        if (f === 0 || traversed + i32[x + slot + 1] > target) break;
        traversed += i32[x + slot + 1];
        x = f;
      }
      if (traversed === target) return x;
    }
    while (traversed < target) {
      x = i32[x + NEXT];
      traversed++;
    }
    return x;
  }

  /**
   * Number of linked nodes whose score is below `s` (or <= `s` when `inclusive`): the
   * 0-based ascending rank of the first node past that bound. O(log n).
   */
  countBelow(s: number, inclusive: boolean): number {
    const i32 = this.i32;
    const f64 = this.f64;
    let x = 0;
    let rank = 0;
    for (let i = this.level - 1; i >= 0; i--) {
      const slot = i === 0 ? NEXT : UP + 2 * (i - 1);
      for (;;) {
        const f = i32[x + slot];
        if (f === 0) break;
        const fs = f64[f >> 1];
        if (fs < s || (inclusive && fs === s)) {
          rank += i === 0 ? 1 : i32[x + slot + 1];
          x = f;
        } else break;
      }
    }
    return rank;
  }

  /** Next node in ascending order (0 at the end). */
  next(x: number): number {
    return this.i32[x + NEXT];
  }

  /** Previous node in ascending order (0 before the first). */
  previous(x: number): number {
    return this.i32[x + BACK];
  }

  /** First node in ascending order (0 when empty). */
  get head(): number {
    return this.i32[NEXT];
  }

  /** Checks every invariant in the header comment; throws on the first broken one. O(n * level): tests only. */
  assertValid(): void {
    const i32 = this.i32;
    const order: number[] = [];
    for (let x = i32[NEXT], p = 0; x !== 0; p = x, x = i32[x + NEXT]) {
      if (i32[x + BACK] !== p) throw new Error(`backward of ${x} is ${i32[x + BACK]}, expected ${p}`);
      if (p !== 0 && !this.less(p, x)) throw new Error(`nodes ${p} and ${x} out of order`);
      order.push(x);
    }
    if (order.length !== this.length) throw new Error(`length ${this.length} but ${order.length} linked`);
    if (this.tail !== (order.length ? order[order.length - 1] : 0)) throw new Error('tail is wrong');
    if (!this.firstWins) {
      for (const x of order) {
        if ((i32[x + META] & WIDE) === 0 && this.f64[(x >> 1) + KEY] !== this.tieKey(this.utf8(this.nameOf(x)))) throw new Error(`stale tie key of ${x}`);
      }
    }
    const pos = new Map<number, number>();
    order.forEach((x, k) => pos.set(x, k + 1));
    for (let i = 1; i < MAX_LEVEL; i++) {
      if (i >= this.level) {
        if (i32[UP + 2 * (i - 1)] !== 0) throw new Error(`header links level ${i} above level ${this.level}`);
        continue;
      }
      const expected = order.filter((x) => (i32[x + META] & LEVEL_MASK) > i);
      expected.forEach((y, k) => {
        if ((i32[y + META] & LEVEL_MASK) === i + 1 && i32[y + TOP_BACK] !== (k === 0 ? 0 : expected[k - 1])) {
          throw new Error(`top backward link of ${y} is ${i32[y + TOP_BACK]}`);
        }
      });
      let x = 0;
      let at = 0;
      for (let k = 0; ; k++) {
        const o = x + UP + 2 * (i - 1);
        const f = i32[o];
        if (f !== (k < expected.length ? expected[k] : 0)) throw new Error(`level ${i} link ${k} is ${f}`);
        const to = f === 0 ? order.length : pos.get(f)!;
        if (i32[o + 1] !== to - at) throw new Error(`span of ${x} on level ${i} is ${i32[o + 1]}, expected ${to - at}`);
        if (f === 0) break;
        x = f;
        at = to;
      }
    }
  }
}

/*
 * Notes on the two additions to Redis' skip list.
 *
 * - Top-level backward links. Walking back from a node, always on the top level of the
 *   node reached, retraces the search path to it in reverse (Pugh's analysis, backwards)
 *   and meets every predecessor and span a search would, without comparing a key. Rank
 *   reads and unlinking use that walk; only linking at a new key compares keys.
 * - The tie key. With ties 'first' it is the stamp (when the member reached its score).
 *   With ties 'redis' it is the 6 bytes of the member's UTF-8 that follow the longest
 *   prefix common to every non-wide member seen (zero-padded, a 48-bit integer): keys that differ
 *   order their members as memcmp would, so most ties are settled inside the node block
 *   and the strings are compared only when the keys are equal. Names like `player:12345`
 *   or zero-padded numbers are then told apart by their key alone. The common prefix only
 *   ever shrinks; each time it does, every key is recomputed (O(n), at most once per byte
 *   of the first member's name over the life of the set). Members with a code unit
 *   >= U+D800 (flagged wide) are always compared in full, by compareUtf8.
 */
