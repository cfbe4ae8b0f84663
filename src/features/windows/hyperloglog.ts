/**
 * HyperLogLog distinct counter (Flajolet et al. 2007, with the small-range correction of
 * Heule et al. "HyperLogLog in Practice" 2013), mergeable so tiles can be combined at read time.
 *
 * Sparse first: up to SPARSE_LIMIT distinct 32-bit hashes are kept exactly in a Set, so the
 * common small case is exact and costs a few bytes per value. Past that the counter turns
 * dense: 2^P one-byte registers, standard error 1.04 / sqrt(2^P) = 1.63 %.
 * Invariant: exactly one of `sparse` / `registers` is set.
 */

/** 2^12 registers: 4 KiB per dense counter for a 1.63 % standard error. */
export const P = 12;
const M = 1 << P;
/** Below 4 KiB of hashes the exact set is smaller than the dense registers. */
export const SPARSE_LIMIT = 512;
const ALPHA = 0.7213 / (1 + 1.079 / M);

/** murmur3 x86_32 over the UTF-16 code units of `s`: fast and well mixed for HLL. */
export function hash32(s: string): number {
  let h = 0x9747b28c;
  const n = s.length;
  for (let i = 0; i < n; i++) {
    let k = s.charCodeAt(i);
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  h ^= n;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The hashes of a sparse union being counted by countOf (reused: reads allocate nothing). */
const unionScratch = new Set<number>();

export class HyperLogLog {
  private sparse: Set<number> | undefined = new Set();
  private registers: Uint8Array | undefined;

  /** Adds a value given by its 32-bit hash. */
  addHash(h: number): void {
    if (this.sparse) {
      this.sparse.add(h);
      if (this.sparse.size > SPARSE_LIMIT) this.densify();
    } else this.addDense(h);
  }

  add(value: string | number): void {
    this.addHash(hash32(typeof value === 'string' ? value : String(value)));
  }

  /** Adds every value of `other` into this counter; `other` is not changed. */
  merge(other: HyperLogLog): this {
    if (other.sparse) {
      for (const h of other.sparse) this.addHash(h);
      return this;
    }
    if (this.sparse) this.densify();
    const a = this.registers!;
    const b = other.registers!;
    for (let i = 0; i < M; i++) if (b[i] > a[i]) a[i] = b[i];
    return this;
  }

  /**
   * count() of the union of `counters`, exactly as merging them into a fresh counter would
   * answer, without building it while the union stays sparse (the common window read: a
   * handful of values per tile). Counters are not changed.
   */
  static countOf(counters: readonly HyperLogLog[]): number {
    if (counters.length === 1) return counters[0].count();
    const union = unionScratch;
    union.clear();
    for (const c of counters) {
      if (c.sparse === undefined) return HyperLogLog.mergedCount(counters);
      for (const h of c.sparse) union.add(h);
      if (union.size > SPARSE_LIMIT) return HyperLogLog.mergedCount(counters);
    }
    const n = union.size;
    union.clear();
    return n;
  }

  private static mergedCount(counters: readonly HyperLogLog[]): number {
    unionScratch.clear();
    const acc = new HyperLogLog();
    for (const c of counters) acc.merge(c);
    return acc.count();
  }

  /** Estimated number of distinct values (exact while sparse). */
  count(): number {
    if (this.sparse) return this.sparse.size;
    const r = this.registers!;
    let sum = 0;
    let zeros = 0;
    for (let i = 0; i < M; i++) {
      sum += 2 ** -r[i];
      if (r[i] === 0) zeros++;
    }
    const estimate = (ALPHA * M * M) / sum;
    // Linear counting is more accurate while many registers are still empty.
    if (estimate <= 2.5 * M && zeros > 0) return Math.round(M * Math.log(M / zeros));
    return Math.round(estimate);
  }

  get isSparse(): boolean {
    return this.sparse !== undefined;
  }

  /** Raw state for snapshots: the exact hashes while sparse, else the registers. */
  state(): { sparse: number[] } | { registers: Uint8Array } {
    return this.sparse ? { sparse: [...this.sparse] } : { registers: this.registers! };
  }

  /** A counter holding exactly `state` (from state()); the registers are copied. */
  static fromState(state: { sparse: readonly number[] } | { registers: Uint8Array }): HyperLogLog {
    const h = new HyperLogLog();
    if ('sparse' in state) {
      for (const x of state.sparse) h.sparse!.add(x);
      if (h.sparse!.size > SPARSE_LIMIT) h.densify();
    } else {
      if (state.registers.length !== M) throw new RangeError(`a dense HyperLogLog has ${M} registers, got ${state.registers.length}`);
      h.sparse = undefined;
      h.registers = Uint8Array.from(state.registers);
    }
    return h;
  }

  private densify(): void {
    this.registers = new Uint8Array(M);
    const hashes = this.sparse!;
    this.sparse = undefined;
    for (const h of hashes) this.addDense(h);
  }

  private addDense(h: number): void {
    const idx = h >>> (32 - P);
    const rest = (h << P) >>> 0;
    // rank = position of the first 1 bit in the remaining 32 - P bits (1-based).
    const rank = rest === 0 ? 32 - P + 1 : Math.clz32(rest) + 1;
    if (rank > this.registers![idx]) this.registers![idx] = rank;
  }
}
