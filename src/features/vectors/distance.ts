/**
 * Distances of a vector field, smaller = nearer, in float32 arithmetic over float32 vectors:
 *
 *   cosine  1 - a.b / (|a| |b|)   (0 same direction, 2 opposite)
 *   l2      |a - b|               (Euclidean)
 *   ip      1 - a.b               (inner product, for vectors the model already normalised)
 */
import type { VectorMetric } from '../../pipeline/pipeline.js';

export type { VectorMetric };

/** Dot product of `q` with the vector at `offset` in `data`. */
export function dotAt(q: Float32Array, data: Float32Array, offset: number): number {
  let s = 0;
  const n = q.length;
  for (let i = 0; i < n; i++) s += q[i] * data[offset + i];
  return s;
}

/** Squared Euclidean distance of `q` to the vector at `offset` in `data`. */
export function l2sqAt(q: Float32Array, data: Float32Array, offset: number): number {
  let s = 0;
  const n = q.length;
  for (let i = 0; i < n; i++) {
    const d = q[i] - data[offset + i];
    s += d * d;
  }
  return s;
}

export function norm(v: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i] * v[i];
  return Math.sqrt(s);
}

/** The distance of two plain vectors (the reference the index is tested against). */
export function distance(metric: VectorMetric, a: ArrayLike<number>, b: ArrayLike<number>): number {
  const qa = Float32Array.from(a as ArrayLike<number>);
  const qb = Float32Array.from(b as ArrayLike<number>);
  switch (metric) {
    case 'l2':
      return Math.sqrt(l2sqAt(qa, qb, 0));
    case 'ip':
      return 1 - dotAt(qa, qb, 0);
    case 'cosine':
      return 1 - dotAt(qa, qb, 0) / (norm(qa) * norm(qb));
  }
}
