/*
 * The local questions a partition answers for the merges in merge.ts, asked of one
 * partition's SortedSet. Plain TypeScript over the engine; no NestJS, Kafka or HTTP.
 */
import type { SortedSet } from '../leaderboard/sorted-set.js';
import type { Neighbours, ScoreRow } from './merge.js';

/** The key a member is ordered by: its score and, with ties 'first', its stamp. */
export interface ScoreKey {
  member: string;
  score: number;
  stamp?: number;
}

/** Rows at local ranks 1 .. n, highest first, each with its stamp (0 with ties 'redis'). */
export function localTop(set: SortedSet, n: number): ScoreRow[] {
  if (n <= 0) return [];
  return set.revRange(0, n - 1).map((e) => ({ member: e.member, score: e.score, stamp: set.stampOf(e.member) }));
}

/** The member's row with its stamp, or undefined when this partition does not hold it. */
export function localRow(set: SortedSet, member: string): ScoreRow | undefined {
  const score = set.score(member);
  return score === undefined ? undefined : { member, score, stamp: set.stampOf(member) };
}

/** Members above `key` here and up to `radius` rows on each side of it (the member itself excluded). */
export function localNeighbours(set: SortedSet, key: ScoreKey, radius: number): Neighbours<ScoreRow> {
  const r = Math.max(0, radius);
  const countAbove = set.countAbove(key.score, key.member, key.stamp ?? 0);
  const withStamp = (e: { member: string; score: number }): ScoreRow => ({ member: e.member, score: e.score, stamp: set.stampOf(e.member) });
  const above = r === 0 || countAbove === 0 ? [] : set.revRange(Math.max(0, countAbove - r), countAbove - 1).map(withStamp);
  const from = countAbove + (set.has(key.member) ? 1 : 0);
  const below = r === 0 ? [] : set.revRange(from, from + r - 1).map(withStamp);
  return { countAbove, above, below };
}
