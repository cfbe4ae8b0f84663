/**
 * Merging `similar` answers of several partitions (a cluster scatters the query to every
 * partition's index): the k nearest of the union of the candidates returned, nearest first,
 * ranked as one index holding all of them would rank them (distance, then entity for equal
 * distances). Pure: the cluster's scatter-gather calls it with the partitions' answers.
 */

export interface SimilarHit {
  entity: string;
  distance: number;
}

/** Nearest-first order; equal distances by entity, so every instance merges alike. */
export function compareHits(a: SimilarHit, b: SimilarHit): number {
  return a.distance - b.distance || (a.entity < b.entity ? -1 : a.entity > b.entity ? 1 : 0);
}

/**
 * The `k` nearest of every partition's hits. An entity answered by two partitions (a
 * partition moving between instances) counts once, at its smaller distance.
 */
export function mergeByDistance(partitions: readonly (readonly SimilarHit[])[], k: number): SimilarHit[] {
  const best = new Map<string, number>();
  for (const hits of partitions) {
    for (const h of hits) {
      const d = best.get(h.entity);
      if (d === undefined || h.distance < d) best.set(h.entity, h.distance);
    }
  }
  return [...best]
    .map(([entity, distance]) => ({ entity, distance }))
    .sort(compareHits)
    .slice(0, Math.max(0, k));
}
