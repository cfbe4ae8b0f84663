/**
 * The approximate nearest-neighbour index of a vector field: an HNSW graph from USearch
 * (Unum's single-header C++ engine, N-API binding with prebuilt binaries in its npm package).
 * The only file that imports `usearch`, as kafka-ingest.ts is the only one that imports kafkajs.
 *
 * The graph holds reduced copies of the vectors: 8-bit for cosine (USearch normalises each
 * vector, then scales it to -127..127: a quarter of the raw bytes), bfloat16 for l2 and ip
 * (float32's range with 8 bits of mantissa: half). The exact float32 vectors live in the
 * field's arena (vector-index.ts), which re-ranks the candidates found here, so the distances
 * returned to callers are exact. Keys are the arena's slot numbers.
 */
import usearch from 'usearch';
import type { VectorMetric } from './distance.js';

/** HNSW links per node (M; twice as many on the bottom layer): 12 keeps recall@10 >= 0.99 at 128 dimensions after exact re-ranking, with less memory than the usual 16. */
export const ANN_CONNECTIVITY = 12;
/** Candidate list while inserting (efConstruction). */
export const ANN_EXPANSION_ADD = 128;
/** Candidate list while searching (ef); a search for more than this many neighbours uses its k instead. */
export const ANN_EXPANSION_SEARCH = 64;

const METRIC: Record<VectorMetric, string> = { cosine: 'cos', l2: 'l2sq', ip: 'ip' };
const QUANTIZATION: Record<VectorMetric, string> = { cosine: 'i8', l2: 'bf16', ip: 'bf16' };

export class AnnIndex {
  private readonly index: InstanceType<typeof usearch.Index>;

  constructor(
    readonly dims: number,
    metric: VectorMetric,
  ) {
    this.index = new usearch.Index({
      dimensions: dims,
      metric: METRIC[metric] as never,
      quantization: QUANTIZATION[metric] as never,
      connectivity: ANN_CONNECTIVITY,
      expansion_add: ANN_EXPANSION_ADD,
      expansion_search: ANN_EXPANSION_SEARCH,
      multi: false,
    });
  }

  get size(): number {
    return Number(this.index.size());
  }

  /** Adds (or, after remove(), adds again) the vector of `slot`. */
  add(slot: number, vector: Float32Array): void {
    this.index.add(BigInt(slot), vector, 1);
  }

  /** Adds many slots at once, on `threads` threads (0: every core): `vectors` holds them back to back. */
  addMany(slots: readonly number[], vectors: Float32Array, threads: number): void {
    if (slots.length === 0) return;
    this.index.add(BigUint64Array.from(slots, (s) => BigInt(s)), vectors, threads);
  }

  remove(slot: number): void {
    this.index.remove(BigInt(slot));
  }

  /** Slots of about the `k` nearest vectors to `query`, nearest first (approximate). */
  search(query: Float32Array, k: number): number[] {
    const n = this.size;
    if (n === 0) return [];
    const found = this.index.search(query, Math.min(k, n), 1) as {
      keys: BigUint64Array;
    };
    const out = new Array<number>(found.keys.length);
    for (let i = 0; i < found.keys.length; i++) out[i] = Number(found.keys[i]);
    return out;
  }
}
