/*
 * CellTable: the occupied cells of the point grid, a hash table from cell (x, y) to the
 * head of the intrusive list of ids in that cell.
 *
 * The grid is the geohash grid at one step (geohash.ts): a cell is a pair of 17-bit-ish
 * slice numbers, too many for a dense array (2^34 cells at step 17) and, packed, beyond the
 * 31-bit small integers V8 keys a Map with cheaply. Only occupied cells are stored, in
 * parallel Int32Arrays with linear probing and backward-shift deletion, so memory follows
 * the occupied cells and no lookup allocates. The lists themselves live in the owner's
 * prev/next arrays (geo-index.ts); the table only knows their heads.
 *
 * Invariants: a slot is empty iff keyX[slot] === EMPTY; every stored cell has a head id
 * (a cell whose list empties is removed at once, by the owner calling removeAt); at most
 * MAX_LOAD of the slots are used. Slot numbers move on removeAt and growth, so callers
 * keep none across a mutation.
 */

/** Marks an empty slot; slice numbers are never negative. */
const EMPTY = -1;
/** Grow past half full: cells are few next to points, so speed of a miss wins over bytes. */
const MAX_LOAD = 0.5;
/** Initial slot count (a power of two, as the mask needs). */
const INITIAL_SLOTS = 256;

/** Mixes a cell's coordinates into 32 bits (multiplicative hashing, then a murmur3-style finaliser). */
function cellHash(x: number, y: number): number {
  let h = Math.imul(x, 0x9e3779b1) ^ Math.imul(y + 0x7f4a7c15, 0x85ebca77);
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  h ^= h >>> 12;
  return h;
}

export class CellTable {
  private keyX = new Int32Array(INITIAL_SLOTS).fill(EMPTY);
  private keyY = new Int32Array(INITIAL_SLOTS);
  private heads = new Int32Array(INITIAL_SLOTS);
  private mask = INITIAL_SLOTS - 1;
  private used = 0;

  /** Number of occupied cells. */
  get size(): number {
    return this.used;
  }

  /** Number of slots; slots are 0 .. slotCount - 1 (for a full scan with isOccupied). */
  get slotCount(): number {
    return this.mask + 1;
  }

  /** The slot of cell (x, y), or -1 when the cell is empty. */
  find(x: number, y: number): number {
    const mask = this.mask;
    const kx = this.keyX;
    let i = cellHash(x, y) & mask;
    for (;;) {
      const k = kx[i];
      if (k === EMPTY) return -1;
      if (k === x && this.keyY[i] === y) return i;
      i = (i + 1) & mask;
    }
  }

  /** The head id of cell (x, y), or -1 when the cell is empty. */
  headOf(x: number, y: number): number {
    const slot = this.find(x, y);
    return slot < 0 ? -1 : this.heads[slot];
  }

  /** Sets the head id of cell (x, y), adding the cell when absent. */
  setHead(x: number, y: number, id: number): void {
    const slot = this.find(x, y);
    if (slot >= 0) {
      this.heads[slot] = id;
      return;
    }
    if (this.used + 1 > (this.mask + 1) * MAX_LOAD) this.rehash((this.mask + 1) * 2);
    const mask = this.mask;
    let i = cellHash(x, y) & mask;
    while (this.keyX[i] !== EMPTY) i = (i + 1) & mask;
    this.keyX[i] = x;
    this.keyY[i] = y;
    this.heads[i] = id;
    this.used++;
  }

  /** Removes cell (x, y); returns false if it was not stored. */
  remove(x: number, y: number): boolean {
    const slot = this.find(x, y);
    if (slot < 0) return false;
    this.removeAt(slot);
    return true;
  }

  /** True when `slot` holds a cell. */
  isOccupied(slot: number): boolean {
    return this.keyX[slot] !== EMPTY;
  }

  /** Slice x of the cell in an occupied slot. */
  xAt(slot: number): number {
    return this.keyX[slot];
  }

  /** Slice y of the cell in an occupied slot. */
  yAt(slot: number): number {
    return this.keyY[slot];
  }

  /** Head id of the cell in an occupied slot. */
  headAt(slot: number): number {
    return this.heads[slot];
  }

  /** Bytes held by the table. */
  bytes(): number {
    return this.keyX.byteLength + this.keyY.byteLength + this.heads.byteLength;
  }

  private removeAt(slot: number): void {
    const mask = this.mask;
    let hole = slot;
    let j = slot;
    for (;;) {
      j = (j + 1) & mask;
      const x = this.keyX[j];
      if (x === EMPTY) break;
      const home = cellHash(x, this.keyY[j]) & mask;
      const stays = hole <= j ? home > hole && home <= j : home > hole || home <= j;
      if (!stays) {
        this.keyX[hole] = x;
        this.keyY[hole] = this.keyY[j];
        this.heads[hole] = this.heads[j];
        hole = j;
      }
    }
    this.keyX[hole] = EMPTY;
    this.used--;
  }

  private rehash(slotCount: number): void {
    const ox = this.keyX;
    const oy = this.keyY;
    const oh = this.heads;
    this.keyX = new Int32Array(slotCount).fill(EMPTY);
    this.keyY = new Int32Array(slotCount);
    this.heads = new Int32Array(slotCount);
    this.mask = slotCount - 1;
    for (let s = 0; s < ox.length; s++) {
      const x = ox[s];
      if (x === EMPTY) continue;
      let i = cellHash(x, oy[s]) & this.mask;
      while (this.keyX[i] !== EMPTY) i = (i + 1) & this.mask;
      this.keyX[i] = x;
      this.keyY[i] = oy[s];
      this.heads[i] = oh[s];
    }
  }
}
