/*
 * Exact answers over partitioned state: each partition answers a small local question and
 * these pure functions merge the answers into what one set holding every member answers.
 * No NestJS, Kafka or HTTP here; the caller gathers the partition answers.
 *
 * Leaderboards (members ordered by score, highest first, equal scores by the tie rule):
 * - top N with offset: each partition's rows at ranks 1..offset+limit hold every global
 *   row of ranks offset+1..offset+limit (a row's global rank is at least its local rank),
 *   so merging those lists and slicing is exact;
 * - rank: 1 + the sum over partitions of the members ranked above the member's key
 *   (SortedSet.countAbove, O(log n) per partition), the member counted in none of them;
 * - around-me: the `radius` rows just above and just below the member's key in every
 *   partition hold the `radius` rows just above and below it globally.
 * Geo: every partition's best `limit` hits by (distance, member) hold the global best.
 *
 * Equal scores. With ties 'redis' (the default) equal scores order by the member's UTF-8
 * bytes, a rule that means the same in every partition: every merge is exact. With ties
 * 'first' equal scores order by a stamp (smaller = reached the score first), then by bytes
 * as 'redis': the merge is exact when the stamps of different partitions are comparable.
 * A leaderboard's stamps are event times (the member's change time, see SortedSet), drawn
 * from the member's own events, which live in one partition: comparable everywhere. Members
 * are distinct across partitions (a member lives in one partition); the functions assume so.
 */

/** How equal scores order: 'redis' by member UTF-8 bytes, 'first' by stamp then bytes. */
export type MergeTieOrder = 'redis' | 'first';

/** One leaderboard row as a partition reports it. */
export interface ScoreRow {
  member: string;
  score: number;
  /** With ties 'first': when the member reached its score (smaller ranks higher); ignored with 'redis'. */
  stamp?: number;
}

/** A merged row: 1-based rank across every partition. */
export type RankedRow<T extends ScoreRow> = T & { rank: number };

/** UTF-8 byte order of two strings (memcmp then length), as Redis orders equal scores. */
function compareBytes(a: string, b: string): number {
  if (a === b) return 0;
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** Leaderboard order: negative when `a` ranks above (before) `b`. */
export function scoreOrder(ties: MergeTieOrder): (a: ScoreRow, b: ScoreRow) => number {
  return (a, b) => {
    if (a.score !== b.score) return a.score > b.score ? -1 : 1;
    if (ties === 'first') {
      const sa = a.stamp ?? 0;
      const sb = b.stamp ?? 0;
      if (sa !== sb) return sa < sb ? -1 : 1;
    }
    // Descending view of ascending byte order: the larger member ranks higher.
    return compareBytes(b.member, a.member);
  };
}

/** Merges lists each sorted by `cmp` into one sorted list (k-way, by repeated minimum: k is small). */
function mergeSorted<T>(parts: readonly (readonly T[])[], cmp: (a: T, b: T) => number, take: number): T[] {
  const at = parts.map(() => 0);
  const out: T[] = [];
  while (out.length < take) {
    let best = -1;
    for (let p = 0; p < parts.length; p++) {
      if (at[p] < parts[p].length && (best < 0 || cmp(parts[p][at[p]], parts[best][at[best]]) < 0)) best = p;
    }
    if (best < 0) break;
    out.push(parts[best][at[best]++]);
  }
  return out;
}

/**
 * Rows at global ranks offset+1 .. offset+limit. `parts[p]` is partition p's rows at its
 * local ranks 1 .. offset+limit (fewer when it holds fewer), highest first.
 */
export function mergeTop<T extends ScoreRow>(parts: readonly (readonly T[])[], offset: number, limit: number, ties: MergeTieOrder): RankedRow<T>[] {
  const from = Math.max(0, offset);
  if (limit <= 0) return [];
  const merged = mergeSorted(parts, scoreOrder(ties), from + limit);
  return merged.slice(from).map((row, i) => ({ ...row, rank: from + i + 1 }));
}

/** 1-based global rank of a member from each partition's count of members ranked above its key. */
export function mergeRank(countsAbove: readonly number[]): number {
  let sum = 0;
  for (const c of countsAbove) sum += c;
  return sum + 1;
}

/** What one partition knows about the neighbourhood of a key (score, member, stamp). */
export interface Neighbours<T extends ScoreRow> {
  /** Members ranked above the key in this partition. */
  countAbove: number;
  /** Up to `radius` rows just above the key, highest first. */
  above: readonly T[];
  /** Up to `radius` rows just below the key (the member itself excluded), highest first. */
  below: readonly T[];
}

/**
 * The member's row and up to `radius` rows on each side, highest first, with global
 * 1-based ranks: `member` is the member's own row (from the partition holding it), `parts`
 * every partition's neighbours of its key (that partition included).
 */
export function mergeAround<T extends ScoreRow>(member: T, parts: readonly Neighbours<T>[], radius: number, ties: MergeTieOrder): RankedRow<T>[] {
  const r = Math.max(0, radius);
  const rank = mergeRank(parts.map((p) => p.countAbove));
  const cmp = scoreOrder(ties);
  // Above: the r rows nearest the member, i.e. the last r of the merged "above" lists.
  const above = parts.flatMap((p) => p.above).sort(cmp);
  const nearAbove = above.slice(Math.max(0, above.length - r));
  const below = mergeSorted(
    parts.map((p) => p.below),
    cmp,
    r,
  );
  const first = rank - nearAbove.length;
  return [...nearAbove, member, ...below].map((row, i) => ({ ...row, rank: first + i }));
}

/** A geo hit as a partition reports it. */
export interface DistanceRow {
  member: string;
  distanceMeters: number;
}

/** Geo order: nearer first, equal distances by member (JavaScript string order, as GeoIndex). */
export function distanceOrder(a: DistanceRow, b: DistanceRow): number {
  if (a.distanceMeters !== b.distanceMeters) return a.distanceMeters < b.distanceMeters ? -1 : 1;
  return a.member < b.member ? -1 : a.member > b.member ? 1 : 0;
}

/**
 * The `limit` best hits across partitions (radius search or k nearest): `parts[p]` is
 * partition p's best `limit` hits, nearest first.
 */
export function mergeNearest<T extends DistanceRow>(parts: readonly (readonly T[])[], limit: number): T[] {
  if (limit <= 0) return [];
  return mergeSorted(parts, distanceOrder, limit);
}
