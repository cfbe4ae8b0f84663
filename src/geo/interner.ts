/*
 * StringInterner: member names to dense integer ids, so that every other structure of the
 * index is a typed array indexed by id and holds no string.
 *
 * An open-addressing hash table with linear probing over an Int32Array of (id + 1) slots,
 * 0 meaning empty, and backward-shift deletion (no tombstones, so probe chains never decay
 * under churn). It replaces a Map<string, number> because a Map entry costs ~30 bytes per
 * member on 64-bit V8, which alone would be a quarter of Redis's whole footprint per GEOADD
 * member; here a member costs ~4-8 bytes of slots plus 4 bytes of cached hash. The hash is
 * FNV-1a over UTF-16 code units with a murmur3 finaliser, computed once per lookup; the
 * cached per-id hash lets probes skip unequal names without comparing strings.
 *
 * Ids are dense: freed ids are reused (LIFO) before new ones are minted, so `highWater`
 * bounds the typed arrays of the owner. Invariants: names[id] !== undefined <=> id is live
 * <=> exactly one slot holds id + 1; size = number of live ids.
 */

/** Grow when more than this fraction of slots is used: linear probing stays ~2.5 probes per miss. */
const MAX_LOAD = 0.75;
/** Initial slot count (a power of two, as the mask needs). */
const INITIAL_SLOTS = 1024;

/** FNV-1a over UTF-16 code units, then the murmur3 fmix32 finaliser so that low bits mix well. */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h | 0;
}

export class StringInterner {
  private slots = new Int32Array(INITIAL_SLOTS);
  private mask = INITIAL_SLOTS - 1;
  private hashes = new Int32Array(INITIAL_SLOTS);
  private readonly names: (string | undefined)[] = [];
  private readonly free: number[] = [];
  private live = 0;

  /** Number of live ids. */
  get size(): number {
    return this.live;
  }

  /** One more than the largest id ever handed out: every live id is below it. */
  get highWater(): number {
    return this.names.length;
  }

  /** The id of `name`, or -1 when it is not interned. */
  get(name: string): number {
    return this.find(name, hashString(name));
  }

  /** The name of a live id, or undefined for a free one. */
  nameOf(id: number): string | undefined {
    return this.names[id];
  }

  /** Interns `name`, which must not be interned yet, and returns its new id. */
  add(name: string): number {
    const h = hashString(name);
    const id = this.free.length > 0 ? (this.free.pop() as number) : this.names.length;
    if (id === this.names.length) this.names.push(name);
    else this.names[id] = name;
    if (id >= this.hashes.length) {
      const grown = new Int32Array(Math.max(this.hashes.length * 2, id + 1));
      grown.set(this.hashes);
      this.hashes = grown;
    }
    this.hashes[id] = h;
    if (this.live + 1 > (this.mask + 1) * MAX_LOAD) this.rehash((this.mask + 1) * 2);
    this.place(id, h);
    this.live++;
    return id;
  }

  /** Forgets a live id; the id becomes reusable. Returns false if it was not live. */
  delete(id: number): boolean {
    const name = this.names[id];
    if (name === undefined) return false;
    const mask = this.mask;
    let i = this.hashes[id] & mask;
    while (this.slots[i] !== id + 1) i = (i + 1) & mask;
    // Backward-shift deletion: pull later entries of the probe chain into the hole unless
    // their home slot lies cyclically in (hole, j].
    let hole = i;
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      const s = this.slots[j];
      if (s === 0) break;
      const home = this.hashes[s - 1] & mask;
      const stays = hole <= j ? home > hole && home <= j : home > hole || home <= j;
      if (!stays) {
        this.slots[hole] = s;
        hole = j;
      }
    }
    this.slots[hole] = 0;
    this.names[id] = undefined;
    this.free.push(id);
    this.live--;
    return true;
  }

  /** Approximate bytes held outside the name strings themselves (for memory reports). */
  bytes(): number {
    return this.slots.byteLength + this.hashes.byteLength + this.names.length * 8 + this.free.length * 8;
  }

  private find(name: string, h: number): number {
    const mask = this.mask;
    const slots = this.slots;
    let i = h & mask;
    for (;;) {
      const s = slots[i];
      if (s === 0) return -1;
      if (this.hashes[s - 1] === h && this.names[s - 1] === name) return s - 1;
      i = (i + 1) & mask;
    }
  }

  private place(id: number, h: number): void {
    const mask = this.mask;
    let i = h & mask;
    while (this.slots[i] !== 0) i = (i + 1) & mask;
    this.slots[i] = id + 1;
  }

  private rehash(slotCount: number): void {
    const old = this.slots;
    this.slots = new Int32Array(slotCount);
    this.mask = slotCount - 1;
    for (let i = 0; i < old.length; i++) {
      const s = old[i];
      if (s !== 0) this.place(s - 1, this.hashes[s - 1]);
    }
  }
}
