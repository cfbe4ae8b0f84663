/*
 * An order-statistic B+tree (a "counted B-tree": every inner node knows how many entries
 * lie below it) whose nodes live in pooled typed arrays.
 *
 * Chosen over a skip list for updates: a node holds up to 64 keys side by side, so a
 * search touches about log64(n) nodes (3-4 at a million members) instead of ~log2(n)
 * scattered skip-list nodes, and a member whose new score keeps it in its leaf moves by a
 * shift inside that leaf. Rank is the position in the leaf plus the counts of the
 * siblings to the left on the way up (B-trees with subtree counts: Knuth TAOCP 6.2.4).
 *
 * Entries are member ids (1..MAX_MEMBERS), ordered ascending by (score, tie key, member):
 * the tie key is, with ties 'redis', the 48-bit key of the member's UTF-8 after the common
 * prefix of all members (see the notes at the end; -1 for "wide" members, always compared
 * in full), and with ties 'first' the stamp of when the member reached its score (a larger
 * stamp orders first). A leaf keeps its entries' score, tie key and id in three parallel
 * slices; an inner node keeps its children and, per child, the exact key (score, tie, id)
 * of the smallest entry below it. Node 0 of each pool means "none".
 *
 * Invariants: every leaf is at the same depth; entries ascend along the leaf chain; a
 * non-root leaf holds MIN_LEAF..LEAF entries and a non-root inner node MIN_FAN..FAN
 * children (a root inner node at least 2); count(inner) = the entries below it; the key
 * kept for child i equals the smallest key below it; leafOf[id] is the leaf holding id.
 */
import { compareUtf8 } from './utf8-order.js';

/** Entries per leaf: 64 keys x (8 + 8 + 4) bytes fill ~20 cache lines, scanned in order. */
const LEAF_SHIFT = 6;
const LEAF = 1 << LEAF_SHIFT;
/** Children per inner node: at 64, a million entries sit under three inner levels. */
const FAN_SHIFT = 6;
const FAN = 1 << FAN_SHIFT;
/** Below a quarter full a node borrows from or merges with a sibling (keeps the fill >= 1/4). */
const MIN_LEAF = LEAF >> 2;
const MIN_FAN = FAN >> 2;
/** Two siblings merge when their entries fit in 3/4 of a node, so a merge is not undone by the next split. */
const MERGE_LEAF = (LEAF * 3) >> 2;
const MERGE_FAN = (FAN * 3) >> 2;
/** Bytes of member UTF-8 in a tie key: 48 bits, exact in a double. */
const KEY_BYTES = 6;
/** Code units from U+D800 up: surrogates and U+E000..U+FFFF (see utf8-order.ts). */
const WIDE_CHARS = /[\ud800-\uffff]/;
/** Ids must fit an int32 with room to spare; the same bound as the skip list's. */
export const MAX_MEMBERS = (1 << 24) - 1;
/** Pool growth factor: 1.5 bounds the unused tail at a third. */
const GROWTH = 1.5;

/** How ties between equal scores are ordered. */
export type TieOrder = 'redis' | 'first';

function grownF64(a: Float64Array, size: number): Float64Array {
  const b = new Float64Array(size);
  b.set(a);
  return b;
}

function grownI32(a: Int32Array, size: number): Int32Array {
  const b = new Int32Array(size);
  b.set(a);
  return b;
}

export class CountedBTree {
  // Leaves: entry j of leaf b is at (b << LEAF_SHIFT) + j.
  private lScore: Float64Array;
  private lTie: Float64Array;
  private lId: Int32Array;
  private lSize: Int32Array;
  private lParent: Int32Array;
  private lNext: Int32Array;
  private lPrev: Int32Array;
  private leafTop = 1;
  private readonly leafFree: number[] = [];
  // Inner nodes: child i of node p is at (p << FAN_SHIFT) + i, with the key of its minimum.
  private iScore: Float64Array;
  private iTie: Float64Array;
  private iId: Int32Array;
  private iChild: Int32Array;
  private iSize: Int32Array;
  private iCount: Int32Array;
  private iParent: Int32Array;
  /** 1 when the node's children are leaves. */
  private iLeafKids: Uint8Array;
  private innerTop = 1;
  private readonly innerFree: number[] = [];
  /** Root node: a leaf when height is 0, else an inner node (leaves and inner nodes are numbered apart). */
  private root: number;
  private height = 0;
  private firstLeaf: number;
  private lastLeaf: number;
  /** Leaf holding each member id. */
  private leafOf: Int32Array;
  /** Member string of each id ('' for released ids); id 0 is unused. */
  readonly names: string[] = [''];
  private readonly freeIds: number[] = [];
  private nextId = 1;
  /** Number of entries. */
  length = 0;
  private readonly firstWins: boolean;
  /** UTF-8 of the longest prefix common to every non-wide member seen (ties 'redis'). */
  private prefix: Uint8Array | null = null;
  private readonly encoder = new TextEncoder();
  /** Tie key computed by the last alloc() (ties 'redis'). */
  private allocKey = 0;
  /** Where the last located entry sits: id, leaf, position (0 id = nothing cached). Reset by every structural change. */
  private cId = 0;
  private cLeaf = 0;
  private cPos = 0;

  constructor(ties: TieOrder = 'redis', capacity = 0) {
    this.firstWins = ties === 'first';
    const leaves = Math.max(4, Math.ceil((capacity * 1.5) / LEAF) + 2);
    this.lScore = new Float64Array(leaves << LEAF_SHIFT);
    this.lTie = new Float64Array(leaves << LEAF_SHIFT);
    this.lId = new Int32Array(leaves << LEAF_SHIFT);
    this.lSize = new Int32Array(leaves);
    this.lParent = new Int32Array(leaves);
    this.lNext = new Int32Array(leaves);
    this.lPrev = new Int32Array(leaves);
    const inner = Math.max(4, Math.ceil(leaves / 8) + 2);
    this.iScore = new Float64Array(inner << FAN_SHIFT);
    this.iTie = new Float64Array(inner << FAN_SHIFT);
    this.iId = new Int32Array(inner << FAN_SHIFT);
    this.iChild = new Int32Array(inner << FAN_SHIFT);
    this.iSize = new Int32Array(inner);
    this.iCount = new Int32Array(inner);
    this.iParent = new Int32Array(inner);
    this.iLeafKids = new Uint8Array(inner);
    this.leafOf = new Int32Array(Math.max(16, capacity + 1));
    this.root = this.firstLeaf = this.lastLeaf = this.newLeaf();
  }

  // ---- members --------------------------------------------------------------------

  /** Takes an id for `name` (not yet in the tree); insert() it next. */
  alloc(name: string): number {
    let id: number;
    if (this.freeIds.length > 0) id = this.freeIds.pop()!;
    else {
      if (this.nextId > MAX_MEMBERS) throw new RangeError(`a sorted set holds at most ${MAX_MEMBERS} members`);
      id = this.nextId++;
      if (id >= this.leafOf.length) this.leafOf = grownI32(this.leafOf, Math.ceil(id * GROWTH) + 16);
      this.names.push('');
    }
    this.names[id] = name;
    if (!this.firstWins) {
      if (WIDE_CHARS.test(name)) this.allocKey = -1;
      else {
        const bytes = this.encoder.encode(name);
        this.narrowPrefix(bytes);
        this.allocKey = this.tieKey(bytes);
      }
    }
    return id;
  }

  /** Returns the id of a removed member for reuse. */
  release(x: number): void {
    this.names[x] = '';
    this.freeIds.push(x);
    if (this.cId === x) this.cId = 0;
  }

  /** One past the highest id handed out: the bound for the owner's id arrays. */
  get idLimit(): number {
    return this.nextId;
  }

  /** Member string of id x. */
  nameOf(x: number): string {
    return this.names[x];
  }

  /** Score of entry x (in the tree). */
  scoreOf(x: number): number {
    this.find(x);
    return this.lScore[(this.cLeaf << LEAF_SHIFT) + this.cPos];
  }

  /** ties 'first': when entry x reached its score (larger = later). */
  stampOf(x: number): number {
    this.find(x);
    return this.lTie[(this.cLeaf << LEAF_SHIFT) + this.cPos];
  }

  private tieKey(bytes: Uint8Array): number {
    const from = this.prefix!.length;
    let key = 0;
    for (let k = 0; k < KEY_BYTES; k++) key = key * 256 + (from + k < bytes.length ? bytes[from + k] : 0);
    return key;
  }

  /** Shrinks the common prefix to fit `bytes`; when it shrinks, recomputes every key in the tree. */
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
    const rekey = (ties: Float64Array, ids: Int32Array, base: number, size: number) => {
      for (let j = base; j < base + size; j++) if (ties[j] >= 0) ties[j] = this.tieKey(this.encoder.encode(this.names[ids[j]]));
    };
    for (let b = this.firstLeaf; b !== 0; b = this.lNext[b]) rekey(this.lTie, this.lId, b << LEAF_SHIFT, this.lSize[b]);
    for (let p = 1; p < this.innerTop; p++) rekey(this.iTie, this.iId, p << FAN_SHIFT, this.iSize[p]);
  }

  // ---- order ----------------------------------------------------------------------

  /** With equal scores: true when (ta, a) orders before (tb, b). */
  private tieLess(ta: number, a: number, tb: number, b: number): boolean {
    if (this.firstWins) {
      // Descending output puts the earlier stamp first, so ascending order has it last.
      if (ta !== tb) return ta > tb;
      return compareUtf8(this.names[a], this.names[b]) < 0;
    }
    if (ta >= 0 && tb >= 0) {
      if (ta !== tb) return ta < tb;
      // Below U+D800 UTF-16 code unit order is UTF-8 byte order: let the engine compare.
      return this.names[a] < this.names[b];
    }
    return compareUtf8(this.names[a], this.names[b]) < 0;
  }

  /** First position in leaf b within [lo, hi) whose entry orders after key (s, t, x). */
  private leafSearch(b: number, lo: number, hi: number, s: number, t: number, x: number): number {
    const base = b << LEAF_SHIFT;
    const S = this.lScore;
    while (lo < hi) {
      const m = (lo + hi) >> 1;
      const j = base + m;
      const es = S[j];
      if (s < es || (s === es && this.tieLess(t, x, this.lTie[j], this.lId[j]))) hi = m;
      else lo = m + 1;
    }
    return lo;
  }

  /** True when key (s, t, x) orders before the entry at slot j of the leaf pool. */
  private keyBefore(s: number, t: number, x: number, j: number): boolean {
    const es = this.lScore[j];
    return s < es || (s === es && this.tieLess(t, x, this.lTie[j], this.lId[j]));
  }

  // ---- reads ----------------------------------------------------------------------

  /** Locates entry x into cLeaf / cPos. */
  private find(x: number): void {
    if (this.cId === x) return;
    const b = this.leafOf[x];
    const base = b << LEAF_SHIFT;
    const ids = this.lId;
    const end = base + this.lSize[b];
    for (let j = base; j < end; j++) {
      if (ids[j] === x) {
        this.cId = x;
        this.cLeaf = b;
        this.cPos = j - base;
        return;
      }
    }
    throw new Error(`member id ${x} is not in the tree`);
  }

  private cache(x: number, b: number, pos: number): number {
    this.cId = x;
    this.cLeaf = b;
    this.cPos = pos;
    return x;
  }

  /** 0-based ascending rank of entry x: its leaf position plus the counts left of its path. */
  rankOf(x: number): number {
    this.find(x);
    let rank = this.cPos;
    let child = this.cLeaf;
    let leafKids = true;
    for (let p = this.lParent[child]; p !== 0; p = this.iParent[p]) {
      const base = p << FAN_SHIFT;
      const counts = leafKids ? this.lSize : this.iCount;
      for (let j = base; ; j++) {
        const c = this.iChild[j];
        if (c === child) break;
        rank += counts[c];
      }
      child = p;
      leafKids = false;
    }
    return rank;
  }

  /** The entry at 0-based ascending rank (0 <= rank < length). */
  byRank(rank: number): number {
    let node = this.root;
    for (let h = this.height; h > 0; h--) {
      const counts = h === 1 ? this.lSize : this.iCount;
      let j = node << FAN_SHIFT;
      for (;;) {
        const c = this.iChild[j++];
        const k = counts[c];
        if (rank < k) {
          node = c;
          break;
        }
        rank -= k;
      }
    }
    return this.cache(this.lId[(node << LEAF_SHIFT) + rank], node, rank);
  }

  /** Next entry in ascending order (0 after the last). */
  next(x: number): number {
    this.find(x);
    const b = this.cLeaf;
    const pos = this.cPos + 1;
    if (pos < this.lSize[b]) return this.cache(this.lId[(b << LEAF_SHIFT) + pos], b, pos);
    const nb = this.lNext[b];
    return nb === 0 ? 0 : this.cache(this.lId[nb << LEAF_SHIFT], nb, 0);
  }

  /** Previous entry in ascending order (0 before the first). */
  previous(x: number): number {
    this.find(x);
    const b = this.cLeaf;
    const pos = this.cPos - 1;
    if (pos >= 0) return this.cache(this.lId[(b << LEAF_SHIFT) + pos], b, pos);
    const pb = this.lPrev[b];
    if (pb === 0) return 0;
    const last = this.lSize[pb] - 1;
    return this.cache(this.lId[(pb << LEAF_SHIFT) + last], pb, last);
  }

  /** First entry in ascending order (0 when empty). */
  get head(): number {
    return this.length === 0 ? 0 : this.cache(this.lId[this.firstLeaf << LEAF_SHIFT], this.firstLeaf, 0);
  }

  /** Number of entries whose score is below `s` (or <= `s` when `inclusive`). */
  countBelow(s: number, inclusive: boolean): number {
    let node = this.root;
    let rank = 0;
    for (let h = this.height; h > 0; h--) {
      const counts = h === 1 ? this.lSize : this.iCount;
      const base = node << FAN_SHIFT;
      const n = this.iSize[node];
      // Children before the last one whose minimum is below the bound lie wholly below it.
      let i = 1;
      while (i < n && (this.iScore[base + i] < s || (inclusive && this.iScore[base + i] === s))) i++;
      for (let j = base; j < base + i - 1; j++) rank += counts[this.iChild[j]];
      node = this.iChild[base + i - 1];
    }
    const base = node << LEAF_SHIFT;
    const n = this.lSize[node];
    let j = 0;
    while (j < n && (this.lScore[base + j] < s || (inclusive && this.lScore[base + j] === s))) j++;
    return rank + j;
  }

  /**
   * Number of entries that order after the key (score, stamp, member) in ascending order,
   * i.e. above it in the descending (leaderboard) view; the member need not be in this
   * tree (it may live in another partition's tree). With ties 'redis' `stamp` is ignored
   * and equal scores compare the member's UTF-8 bytes; with ties 'first' a larger stamp
   * orders lower (reached later), then member bytes. An entry equal to the key (the member
   * itself) is not counted. O(log n) node visits; equal scores compare strings in full.
   */
  countAbove(score: number, stamp: number, member: string): number {
    if (score === 0) score = 0;
    let node = this.root;
    let notAfter = 0;
    for (let h = this.height; h > 0; h--) {
      const counts = h === 1 ? this.lSize : this.iCount;
      const base = node << FAN_SHIFT;
      const n = this.iSize[node];
      // Every child before the last one whose minimum does not order after the key lies
      // wholly at or below it.
      let i = 1;
      while (i < n && !this.externalBefore(score, stamp, member, this.iScore[base + i], this.iTie[base + i], this.iId[base + i])) i++;
      for (let j = base; j < base + i - 1; j++) notAfter += counts[this.iChild[j]];
      node = this.iChild[base + i - 1];
    }
    const base = node << LEAF_SHIFT;
    const n = this.lSize[node];
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const m = (lo + hi) >> 1;
      const j = base + m;
      if (this.externalBefore(score, stamp, member, this.lScore[j], this.lTie[j], this.lId[j])) hi = m;
      else lo = m + 1;
    }
    return this.length - (notAfter + lo);
  }

  /** True when the outside key (s, stamp, member) orders strictly before the stored entry (es, et, id). */
  private externalBefore(s: number, stamp: number, member: string, es: number, et: number, id: number): boolean {
    if (s !== es) return s < es;
    if (this.firstWins && stamp !== et) return stamp > et;
    return compareUtf8(member, this.names[id]) < 0;
  }

  // ---- updates --------------------------------------------------------------------

  /** Inserts id x (from the last alloc(), not in the tree) at `score`; `stamp` is its tie key with ties 'first'. */
  insert(x: number, score: number, stamp: number): void {
    this.put(x, score, this.firstWins ? stamp : this.allocKey);
  }

  /** Removes entry x. */
  remove(x: number): void {
    this.find(x);
    this.take(x, this.cLeaf, this.cPos);
  }

  /**
   * Gives entry x a new score (and, ties 'first', stamp). A key that stays within x's leaf
   * is moved by a shift there; any other is removed and inserted again from the root.
   */
  move(x: number, score: number, stamp: number): void {
    this.find(x);
    const b = this.cLeaf;
    const pos = this.cPos;
    const base = b << LEAF_SHIFT;
    const S = this.lScore;
    const T = this.lTie;
    const I = this.lId;
    const t = this.firstWins ? stamp : T[base + pos];
    const n = this.lSize[b];
    if (this.keyBefore(score, t, x, base + pos)) {
      // Moving down: the first place in [0, pos) that orders after the new key.
      const q = this.leafSearch(b, 0, pos, score, t, x);
      const pb = this.lPrev[b];
      if (q === 0 && pb !== 0 && this.keyBefore(score, t, x, (pb << LEAF_SHIFT) + this.lSize[pb] - 1)) {
        this.take(x, b, pos);
        this.put(x, score, t);
        return;
      }
      this.shiftLeaf(base + q + 1, base + q, base + pos);
      S[base + q] = score;
      T[base + q] = t;
      I[base + q] = x;
      this.cPos = q;
      if (q === 0) this.fixMin(b);
    } else {
      // Moving up: the first place in (pos, n) that orders after the new key.
      const q = this.leafSearch(b, pos + 1, n, score, t, x);
      const nb = this.lNext[b];
      if (q === n && nb !== 0 && !this.keyBefore(score, t, x, nb << LEAF_SHIFT)) {
        this.take(x, b, pos);
        this.put(x, score, t);
        return;
      }
      this.shiftLeaf(base + pos, base + pos + 1, base + q);
      S[base + q - 1] = score;
      T[base + q - 1] = t;
      I[base + q - 1] = x;
      this.cPos = q - 1;
      if (pos === 0) this.fixMin(b);
    }
  }

  /** Removes every entry and id. */
  clear(): void {
    this.leafTop = 1;
    this.innerTop = 1;
    this.leafFree.length = 0;
    this.innerFree.length = 0;
    this.freeIds.length = 0;
    this.names.length = 1;
    this.nextId = 1;
    this.length = 0;
    this.height = 0;
    this.cId = 0;
    this.root = this.firstLeaf = this.lastLeaf = this.newLeaf();
  }

  /** Moves leaf-pool slots [from, end) to start at `to` (overlap allowed): a plain loop beats copyWithin's call cost for the few dozen slots a leaf holds. */
  private shiftLeaf(to: number, from: number, end: number): void {
    const S = this.lScore;
    const T = this.lTie;
    const I = this.lId;
    if (to < from) {
      for (let j = from, k = to; j < end; j++, k++) {
        S[k] = S[j];
        T[k] = T[j];
        I[k] = I[j];
      }
    } else {
      for (let j = end - 1, k = to + (end - 1 - from); j >= from; j--, k--) {
        S[k] = S[j];
        T[k] = T[j];
        I[k] = I[j];
      }
    }
  }

  /** Inserts x with key (score, t) by a search from the root. */
  private put(x: number, score: number, t: number): void {
    this.cId = 0;
    let node = this.root;
    for (let h = this.height; h > 0; h--) {
      // The last child whose minimum orders before the key (the first when none does).
      const base = node << FAN_SHIFT;
      let lo = 1;
      let hi = this.iSize[node];
      while (lo < hi) {
        const m = (lo + hi) >> 1;
        const j = base + m;
        const es = this.iScore[j];
        if (score < es || (score === es && this.tieLess(t, x, this.iTie[j], this.iId[j]))) hi = m;
        else lo = m + 1;
      }
      node = this.iChild[base + lo - 1];
    }
    let b = node;
    if (this.lSize[b] === LEAF) {
      // A key past either end of the leaf is likely the first of a run of appends there
      // (ascending names under one score): leave the old leaf 3/4 full, not half.
      const at = this.leafSearch(b, 0, LEAF, score, t, x);
      const r = this.splitLeaf(b, at === LEAF ? LEAF - MIN_LEAF : at === 0 ? MIN_LEAF : LEAF >> 1);
      if (!this.keyBefore(score, t, x, r << LEAF_SHIFT)) b = r;
    }
    const n = this.lSize[b];
    const q = this.leafSearch(b, 0, n, score, t, x);
    const base = b << LEAF_SHIFT;
    this.shiftLeaf(base + q + 1, base + q, base + n);
    this.lScore[base + q] = score;
    this.lTie[base + q] = t;
    this.lId[base + q] = x;
    this.lSize[b] = n + 1;
    this.leafOf[x] = b;
    for (let p = this.lParent[b]; p !== 0; p = this.iParent[p]) this.iCount[p]++;
    this.length++;
    if (q === 0) this.fixMin(b);
    this.cache(x, b, q);
  }

  /** Removes the entry at `pos` of leaf b, then rebalances. */
  private take(x: number, b: number, pos: number): void {
    this.cId = 0;
    const base = b << LEAF_SHIFT;
    const n = this.lSize[b];
    this.shiftLeaf(base + pos, base + pos + 1, base + n);
    this.lSize[b] = n - 1;
    this.leafOf[x] = 0;
    for (let p = this.lParent[b]; p !== 0; p = this.iParent[p]) this.iCount[p]--;
    this.length--;
    if (pos === 0 && n > 1) this.fixMin(b);
    if (n - 1 < MIN_LEAF && this.height > 0) this.rebalanceLeaf(b);
  }

  /** Leaf b's smallest key changed: rewrite it in the ancestors that keep it. */
  private fixMin(b: number): void {
    const j0 = b << LEAF_SHIFT;
    const s = this.lScore[j0];
    const t = this.lTie[j0];
    const id = this.lId[j0];
    let child = b;
    for (let p = this.lParent[b]; p !== 0; p = this.iParent[p]) {
      const k = this.childIndex(p, child);
      const j = (p << FAN_SHIFT) + k;
      this.iScore[j] = s;
      this.iTie[j] = t;
      this.iId[j] = id;
      if (k !== 0) return;
      child = p;
    }
  }

  private childIndex(p: number, child: number): number {
    const base = p << FAN_SHIFT;
    for (let j = base; ; j++) if (this.iChild[j] === child) return j - base;
  }

  /** Copies the minimum key of `child` into slot j of the inner pool. */
  private setMinKey(j: number, child: number, leafKid: boolean): void {
    if (leafKid) {
      const k = child << LEAF_SHIFT;
      this.iScore[j] = this.lScore[k];
      this.iTie[j] = this.lTie[k];
      this.iId[j] = this.lId[k];
    } else {
      const k = child << FAN_SHIFT;
      this.iScore[j] = this.iScore[k];
      this.iTie[j] = this.iTie[k];
      this.iId[j] = this.iId[k];
    }
  }

  private newLeaf(): number {
    let b = this.leafFree.pop();
    if (b === undefined) {
      b = this.leafTop++;
      if (b >= this.lSize.length) {
        const size = Math.ceil(this.lSize.length * GROWTH) + 4;
        this.lScore = grownF64(this.lScore, size << LEAF_SHIFT);
        this.lTie = grownF64(this.lTie, size << LEAF_SHIFT);
        this.lId = grownI32(this.lId, size << LEAF_SHIFT);
        this.lSize = grownI32(this.lSize, size);
        this.lParent = grownI32(this.lParent, size);
        this.lNext = grownI32(this.lNext, size);
        this.lPrev = grownI32(this.lPrev, size);
      }
    }
    this.lSize[b] = 0;
    this.lParent[b] = 0;
    this.lNext[b] = 0;
    this.lPrev[b] = 0;
    return b;
  }

  private newInner(leafKids: boolean): number {
    let p = this.innerFree.pop();
    if (p === undefined) {
      p = this.innerTop++;
      if (p >= this.iSize.length) {
        const size = Math.ceil(this.iSize.length * GROWTH) + 4;
        this.iScore = grownF64(this.iScore, size << FAN_SHIFT);
        this.iTie = grownF64(this.iTie, size << FAN_SHIFT);
        this.iId = grownI32(this.iId, size << FAN_SHIFT);
        this.iChild = grownI32(this.iChild, size << FAN_SHIFT);
        this.iSize = grownI32(this.iSize, size);
        this.iCount = grownI32(this.iCount, size);
        this.iParent = grownI32(this.iParent, size);
        const kids = new Uint8Array(size);
        kids.set(this.iLeafKids);
        this.iLeafKids = kids;
      }
    }
    this.iSize[p] = 0;
    this.iCount[p] = 0;
    this.iParent[p] = 0;
    this.iLeafKids[p] = leafKids ? 1 : 0;
    return p;
  }

  /** Moves the entries of full leaf b past its first `half` to a new leaf after it; returns the new leaf. */
  private splitLeaf(b: number, half: number): number {
    const r = this.newLeaf();
    const from = (b << LEAF_SHIFT) + half;
    const to = r << LEAF_SHIFT;
    this.shiftLeaf(to, from, from + LEAF - half);
    for (let j = to; j < to + LEAF - half; j++) this.leafOf[this.lId[j]] = r;
    this.lSize[b] = half;
    this.lSize[r] = LEAF - half;
    const nb = this.lNext[b];
    this.lNext[r] = nb;
    this.lPrev[r] = b;
    if (nb !== 0) this.lPrev[nb] = r;
    else this.lastLeaf = r;
    this.lNext[b] = r;
    this.addChild(this.lParent[b], b, r, true);
    return r;
  }

  /** Puts `right` (already holding its entries) after `left` in inner node p (0: left is the root). */
  private addChild(p: number, left: number, right: number, leafKids: boolean): void {
    if (p === 0) {
      const root = this.newInner(leafKids);
      const base = root << FAN_SHIFT;
      this.iChild[base] = left;
      this.iChild[base + 1] = right;
      this.setMinKey(base, left, leafKids);
      this.setMinKey(base + 1, right, leafKids);
      this.iSize[root] = 2;
      this.setParent(left, root, leafKids);
      this.setParent(right, root, leafKids);
      this.iCount[root] = this.countOf(left, leafKids) + this.countOf(right, leafKids);
      this.root = root;
      this.height++;
      return;
    }
    let idx = this.childIndex(p, left);
    let q = 0;
    let target = p;
    if (this.iSize[p] === FAN) {
      // Split p: its upper half goes to a new node q, then `right` joins whichever holds `left`.
      q = this.newInner(leafKids);
      const half = FAN >> 1;
      const from = (p << FAN_SHIFT) + half;
      const to = q << FAN_SHIFT;
      this.iScore.copyWithin(to, from, from + FAN - half);
      this.iTie.copyWithin(to, from, from + FAN - half);
      this.iId.copyWithin(to, from, from + FAN - half);
      this.iChild.copyWithin(to, from, from + FAN - half);
      for (let j = to; j < to + FAN - half; j++) this.setParent(this.iChild[j], q, leafKids);
      this.iSize[p] = half;
      this.iSize[q] = FAN - half;
      if (idx >= half) {
        target = q;
        idx -= half;
      }
    }
    const base = target << FAN_SHIFT;
    const n = this.iSize[target];
    const at = base + idx + 1;
    this.iScore.copyWithin(at + 1, at, base + n);
    this.iTie.copyWithin(at + 1, at, base + n);
    this.iId.copyWithin(at + 1, at, base + n);
    this.iChild.copyWithin(at + 1, at, base + n);
    this.iChild[at] = right;
    this.setMinKey(at, right, leafKids);
    this.iSize[target] = n + 1;
    this.setParent(right, target, leafKids);
    if (q !== 0) {
      // Counts are summed once every child is in place (entries of `right` were under p).
      this.iCount[p] = this.sumCounts(p);
      this.iCount[q] = this.sumCounts(q);
      this.addChild(this.iParent[p], p, q, false);
    }
  }

  private setParent(child: number, p: number, leafKid: boolean): void {
    if (leafKid) this.lParent[child] = p;
    else this.iParent[child] = p;
  }

  private countOf(child: number, leafKid: boolean): number {
    return leafKid ? this.lSize[child] : this.iCount[child];
  }

  private sumCounts(p: number): number {
    const counts = this.iLeafKids[p] === 1 ? this.lSize : this.iCount;
    const base = p << FAN_SHIFT;
    let sum = 0;
    for (let j = base; j < base + this.iSize[p]; j++) sum += counts[this.iChild[j]];
    return sum;
  }

  /** Leaf b (not the root) fell below MIN_LEAF: merge it with a sibling or even them out. */
  private rebalanceLeaf(b: number): void {
    const p = this.lParent[b];
    const k = this.childIndex(p, b);
    const base = p << FAN_SHIFT;
    const li = k + 1 < this.iSize[p] ? k : k - 1;
    const left = this.iChild[base + li];
    const right = this.iChild[base + li + 1];
    const nl = this.lSize[left];
    const nr = this.lSize[right];
    const lb = left << LEAF_SHIFT;
    const rb = right << LEAF_SHIFT;
    if (nl + nr <= MERGE_LEAF) {
      this.shiftLeaf(lb + nl, rb, rb + nr);
      for (let j = lb + nl; j < lb + nl + nr; j++) this.leafOf[this.lId[j]] = left;
      this.lSize[left] = nl + nr;
      const nn = this.lNext[right];
      this.lNext[left] = nn;
      if (nn !== 0) this.lPrev[nn] = left;
      else this.lastLeaf = left;
      this.lSize[right] = 0;
      this.leafFree.push(right);
      if (nl === 0) this.fixMin(left);
      this.dropChild(p, li + 1);
      return;
    }
    const want = (nl + nr) >> 1;
    if (nl < want) {
      // Take the first (want - nl) entries of right.
      const m = want - nl;
      this.shiftLeaf(lb + nl, rb, rb + m);
      for (let j = lb + nl; j < lb + want; j++) this.leafOf[this.lId[j]] = left;
      this.shiftLeaf(rb, rb + m, rb + nr);
      this.lSize[left] = want;
      this.lSize[right] = nr - m;
      if (nl === 0) this.fixMin(left);
    } else {
      // Give the last (nl - want) entries of left to the front of right.
      const m = nl - want;
      this.shiftLeaf(rb + m, rb, rb + nr);
      this.shiftLeaf(rb, lb + want, lb + nl);
      for (let j = rb; j < rb + m; j++) this.leafOf[this.lId[j]] = right;
      this.lSize[left] = want;
      this.lSize[right] = nr + m;
    }
    this.setMinKey(base + li + 1, right, true);
  }

  /** Removes child slot k of inner node p (its entries already moved to a sibling); rebalances p. */
  private dropChild(p: number, k: number): void {
    const base = p << FAN_SHIFT;
    const n = this.iSize[p];
    this.iScore.copyWithin(base + k, base + k + 1, base + n);
    this.iTie.copyWithin(base + k, base + k + 1, base + n);
    this.iId.copyWithin(base + k, base + k + 1, base + n);
    this.iChild.copyWithin(base + k, base + k + 1, base + n);
    this.iSize[p] = n - 1;
    if (p === this.root) {
      if (n - 1 === 1) {
        // A root with one child hands the root over to it.
        const only = this.iChild[base];
        this.setParent(only, 0, this.iLeafKids[p] === 1);
        this.root = only;
        this.height--;
        this.iSize[p] = 0;
        this.innerFree.push(p);
      }
      return;
    }
    if (n - 1 < MIN_FAN) this.rebalanceInner(p);
  }

  /** Inner node c (not the root) fell below MIN_FAN children: merge it with a sibling or even them out. */
  private rebalanceInner(c: number): void {
    const p = this.iParent[c];
    const k = this.childIndex(p, c);
    const base = p << FAN_SHIFT;
    const li = k + 1 < this.iSize[p] ? k : k - 1;
    const left = this.iChild[base + li];
    const right = this.iChild[base + li + 1];
    const leafKids = this.iLeafKids[left] === 1;
    const nl = this.iSize[left];
    const nr = this.iSize[right];
    const lb = left << FAN_SHIFT;
    const rb = right << FAN_SHIFT;
    const copy = (to: number, from: number, end: number) => {
      this.iScore.copyWithin(to, from, end);
      this.iTie.copyWithin(to, from, end);
      this.iId.copyWithin(to, from, end);
      this.iChild.copyWithin(to, from, end);
    };
    if (nl + nr <= MERGE_FAN) {
      copy(lb + nl, rb, rb + nr);
      for (let j = lb + nl; j < lb + nl + nr; j++) this.setParent(this.iChild[j], left, leafKids);
      this.iSize[left] = nl + nr;
      this.iCount[left] += this.iCount[right];
      this.iSize[right] = 0;
      this.innerFree.push(right);
      this.dropChild(p, li + 1);
      return;
    }
    const want = (nl + nr) >> 1;
    if (nl < want) {
      const m = want - nl;
      copy(lb + nl, rb, rb + m);
      for (let j = lb + nl; j < lb + want; j++) this.setParent(this.iChild[j], left, leafKids);
      copy(rb, rb + m, rb + nr);
      this.iSize[left] = want;
      this.iSize[right] = nr - m;
    } else {
      const m = nl - want;
      copy(rb + m, rb, rb + nr);
      copy(rb, lb + want, lb + nl);
      for (let j = rb; j < rb + m; j++) this.setParent(this.iChild[j], right, leafKids);
      this.iSize[left] = want;
      this.iSize[right] = nr + m;
    }
    this.iCount[left] = this.sumCounts(left);
    this.iCount[right] = this.sumCounts(right);
    this.setMinKey(base + li + 1, right, false);
  }

  // ---- checks ---------------------------------------------------------------------

  /** Checks every invariant in the header comment; throws on the first broken one. O(n log n): tests only. */
  assertValid(): void {
    const seen: number[] = [];
    let leaves = 0;
    const visit = (node: number, h: number, parent: number): { count: number; min: number } => {
      if (h === 0) {
        leaves++;
        const n = this.lSize[node];
        if (this.lParent[node] !== parent) throw new Error(`leaf ${node} has parent ${this.lParent[node]}, expected ${parent}`);
        if ((h < this.height && n < MIN_LEAF) || n > LEAF) throw new Error(`leaf ${node} holds ${n} entries`);
        const base = node << LEAF_SHIFT;
        for (let j = base; j < base + n; j++) {
          const id = this.lId[j];
          if (this.leafOf[id] !== node) throw new Error(`leafOf[${id}] is ${this.leafOf[id]}, expected ${node}`);
          seen.push(j);
        }
        return { count: n, min: base };
      }
      const n = this.iSize[node];
      if (this.iParent[node] !== parent) throw new Error(`inner ${node} has parent ${this.iParent[node]}, expected ${parent}`);
      if ((this.iLeafKids[node] === 1) !== (h === 1)) throw new Error(`inner ${node} has the wrong child kind`);
      if (h === this.height ? n < 2 : n < MIN_FAN || n > FAN) throw new Error(`inner ${node} has ${n} children`);
      let count = 0;
      let min = -1;
      const base = node << FAN_SHIFT;
      for (let j = base; j < base + n; j++) {
        const sub = visit(this.iChild[j], h - 1, node);
        count += sub.count;
        if (min < 0) min = sub.min;
        if (this.iScore[j] !== this.lScore[sub.min] || this.iTie[j] !== this.lTie[sub.min] || this.iId[j] !== this.lId[sub.min]) {
          throw new Error(`inner ${node} keeps a stale minimum for child ${j - base}`);
        }
      }
      if (this.iCount[node] !== count) throw new Error(`inner ${node} counts ${this.iCount[node]}, expected ${count}`);
      return { count, min };
    };
    const total = visit(this.root, this.height, 0).count;
    if (total !== this.length) throw new Error(`length ${this.length} but ${total} entries`);
    const chain: number[] = [];
    for (let b = this.firstLeaf, p = 0; b !== 0; p = b, b = this.lNext[b]) {
      if (this.lPrev[b] !== p) throw new Error(`leaf ${b} links back to ${this.lPrev[b]}`);
      if (this.lNext[b] === 0 && this.lastLeaf !== b) throw new Error('last leaf is wrong');
      for (let j = b << LEAF_SHIFT; j < (b << LEAF_SHIFT) + this.lSize[b]; j++) chain.push(j);
    }
    if (chain.length !== seen.length || chain.some((j, i) => j !== seen[i]) || leaves === 0) throw new Error('leaf chain differs from the tree');
    for (let i = 1; i < chain.length; i++) {
      const a = chain[i - 1];
      const b = chain[i];
      if (!this.keyBefore(this.lScore[a], this.lTie[a], this.lId[a], b)) throw new Error(`entries ${this.lId[a]} and ${this.lId[b]} out of order`);
    }
    if (!this.firstWins) {
      for (const j of chain) {
        const name = this.names[this.lId[j]];
        const want = WIDE_CHARS.test(name) ? -1 : this.tieKey(this.encoder.encode(name));
        if (this.lTie[j] !== want) throw new Error(`stale tie key of ${this.lId[j]}`);
      }
    }
  }
}

/*
 * Notes on the tie key (ties 'redis').
 *
 * The key is the 6 bytes of the member's UTF-8 that follow the longest prefix common to
 * every non-wide member seen, zero-padded, as a 48-bit integer: keys that differ order
 * their members as memcmp would, so most ties are settled from the leaf's own arrays and
 * the strings are compared only when the keys are equal. Names like `player:12345` or
 * zero-padded numbers are then told apart by their key alone. The common prefix only
 * ever shrinks; each time it does, every key (in leaves and in inner nodes) is recomputed:
 * O(n), at most once per byte of the first member's name over the life of the tree.
 * Members with a code unit >= U+D800 (key -1) are always compared in full, by
 * compareUtf8, because there UTF-16 and UTF-8 orders can differ.
 */
