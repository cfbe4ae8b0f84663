/*
 * MemberIndex: member string -> member id (a handle of the ordered structure), as an open-addressing hash table in typed
 * arrays (linear probing, backward-shift deletion, no tombstones).
 *
 * Why not a Map<string, number>: V8's OrderedHashMap spends 24 bytes per entry plus a
 * bucket word per two entries, and keeps deleted entries until it rehashes: 29-37 bytes
 * per member at 1M/100k members. Here a slot is a 4-byte node handle plus a 1-byte tag
 * (8 more hash bits), 5 bytes at a load of 3/8..3/4, so 7-13 bytes per member, which is
 * what keeps a member within Redis' own footprint. The member string itself is held once,
 * by the tree's names.
 *
 * Invariants: slot[i] = 0 means empty (0 is the list header, never indexed); every live
 * handle sits in the probe run that starts at its home slot (hash & mask) with no empty
 * slot between; size <= MAX_LOAD * capacity.
 */
/** What the index needs of the structure that owns the handles: each handle's member. */
export interface HandleNames {
  nameOf(x: number): string;
}

/** Grow past 3/4 full: linear probing stays near 2.5 probes per hit there (Knuth). */
const MAX_LOAD = 0.75;
/** First capacity (a power of two). */
const MIN_CAPACITY = 16;

/**
 * FNV-1a over UTF-16 code units, seeded, with murmur3's finaliser so the low bits (the
 * home slot) and the top byte (the tag) both depend on every character.
 */
export function hashMember(s: string, seed: number): number {
  let h = (0x811c9dc5 ^ seed) | 0;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

export class MemberIndex {
  private slots: Int32Array;
  private tags: Uint8Array;
  private mask: number;
  size = 0;

  /**
   * @param list whose node names the handles resolve to.
   * @param seed of the hash. It changes no result, only where members land, so callers may
   *   pick it at random to make crafted colliding member names impractical.
   */
  constructor(
    private readonly list: HandleNames,
    private readonly seed: number,
    capacity = 0,
  ) {
    let cap = MIN_CAPACITY;
    while (cap * MAX_LOAD < capacity) cap *= 2;
    this.slots = new Int32Array(cap);
    this.tags = new Uint8Array(cap);
    this.mask = cap - 1;
  }

  /** Node of `member`, or 0 when absent. */
  get(member: string): number {
    const h = hashMember(member, this.seed);
    const tag = h >>> 24;
    const slots = this.slots;
    const mask = this.mask;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const x = slots[i];
      if (x === 0) return 0;
      if (this.tags[i] === tag && this.list.nameOf(x) === member) return x;
    }
  }

  /** Indexes node x under `member`, which must be absent. */
  add(member: string, x: number): void {
    if (this.size + 1 > this.slots.length * MAX_LOAD) this.rehash(this.slots.length * 2);
    this.place(hashMember(member, this.seed), x);
    this.size++;
  }

  private place(h: number, x: number): void {
    const slots = this.slots;
    const mask = this.mask;
    let i = h & mask;
    while (slots[i] !== 0) i = (i + 1) & mask;
    slots[i] = x;
    this.tags[i] = h >>> 24;
  }

  /** Removes `member`; returns its node, or 0 when absent. */
  remove(member: string): number {
    const h = hashMember(member, this.seed);
    const tag = h >>> 24;
    const slots = this.slots;
    const mask = this.mask;
    let i = h & mask;
    for (; ; i = (i + 1) & mask) {
      const x = slots[i];
      if (x === 0) return 0;
      if (this.tags[i] === tag && this.list.nameOf(x) === member) break;
    }
    const found = slots[i];
    // Backward-shift deletion: pull later members of the run into the hole when their
    // home slot does not lie cyclically in (hole, j].
    let hole = i;
    for (let j = (i + 1) & mask; slots[j] !== 0; j = (j + 1) & mask) {
      const home = hashMember(this.list.nameOf(slots[j]), this.seed) & mask;
      const stays = hole <= j ? hole < home && home <= j : hole < home || home <= j;
      if (!stays) {
        slots[hole] = slots[j];
        this.tags[hole] = this.tags[j];
        hole = j;
      }
    }
    slots[hole] = 0;
    this.size--;
    return found;
  }

  /** Every indexed node, in no particular order. */
  *handles(): IterableIterator<number> {
    for (const x of this.slots) if (x !== 0) yield x;
  }

  /** Forgets every member, keeping the capacity. */
  clear(): void {
    this.slots.fill(0);
    this.size = 0;
  }

  /** Bytes held by the table (for memory reports). */
  get bytes(): number {
    return this.slots.byteLength + this.tags.byteLength;
  }

  private rehash(capacity: number): void {
    const old = this.slots;
    this.slots = new Int32Array(capacity);
    this.tags = new Uint8Array(capacity);
    this.mask = capacity - 1;
    for (const x of old) if (x !== 0) this.place(hashMember(this.list.nameOf(x), this.seed), x);
  }
}
