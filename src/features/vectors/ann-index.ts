/**
 * The approximate nearest-neighbour index of a vector field: an HNSW graph from USearch
 * (Unum's single-header C++ engine, N-API binding with prebuilt binaries in its npm package).
 * The only file that imports `usearch`, as kafka-ingest.ts is the only one that imports kafkajs.
 *
 * The graph holds bfloat16 copies (float32's range, 8 bits of mantissa) of the vectors: the exact float32 vectors live in
 * the field's arena (vector-index.ts), which re-ranks the candidates found here, so the
 * distances returned to callers are exact and the graph costs about half the raw bytes.
 * Keys are the arena's slot numbers.
 */
import usearch from 'usearch';
import type { VectorMetric } from './distance.js';

/** HNSW links per node (M): 16 is the usual balance of recall, memory and build time at 128 dimensions. */
export const ANN_CONNECTIVITY = 16;
/** Candidate list while inserting (efConstruction). */
export const ANN_EXPANSION_ADD = 128;
/** Candidate list while searching (ef); a search for more than this many neighbours uses its k instead. */
export const ANN_EXPANSION_SEARCH = 64;

const METRIC: Record<VectorMetric, string> = {
  cosine: 'cos',
  l2: 'l2sq',
  ip: 'ip',
};

export class AnnIndex {
  private readonly index: InstanceType<typeof usearch.Index>;

  constructor(
    readonly dims: number,
    metric: VectorMetric,
  ) {
    this.index = new usearch.Index({
      dimensions: dims,
      metric: METRIC[metric] as never,
      quantization: 'bf16' as never,
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

  /** Adds many slots at once on every core: `vectors` holds them back to back. */
  addMany(slots: readonly number[], vectors: Float32Array): void {
    if (slots.length === 0) return;
    this.index.add(
      BigUint64Array.from(slots, (s) => BigInt(s)),
      vectors,
      0,
    );
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
