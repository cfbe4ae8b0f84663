/*
 * The local questions a member answers for the merges in merge.ts, asked of the SortedSet of
 * one leaderboard period (holding the members of the partitions this member owns). Plain
 * TypeScript over the engine; no NestJS, Kafka or HTTP.
 */
import type { SortedSet } from '../leaderboard/sorted-set.js';
import type { Neighbours, ScoreRow } from './merge.js';

/** The key a member is ordered by: its score and, with ties 'first', its stamp. */
export interface ScoreKey {
  member: string;
  score: number;
  stamp?: number;
}

/** A leaderboard row as a member reports it: the merge key and when the score last changed. */
export interface BoardRow extends ScoreRow {
  /** Event time of the update that last changed the score; null when unknown. */
  changedAt: number | null;
}

function rowOf(set: SortedSet, e: { member: string; score: number }): BoardRow {
  const t = set.changedAtOf(e.member);
  return { member: e.member, score: e.score, stamp: set.stampOf(e.member), changedAt: t === undefined || Number.isNaN(t) ? null : t };
}

/** Rows at local ranks 1 .. n, highest first, each with its stamp (0 with ties 'redis'). */
export function localTop(set: SortedSet, n: number): BoardRow[] {
  if (n <= 0) return [];
  return set.revRange(0, n - 1).map((e) => rowOf(set, e));
}

/** The member's row with its stamp, or undefined when this set does not hold it. */
export function localRow(set: SortedSet, member: string): BoardRow | undefined {
  const score = set.score(member);
  return score === undefined ? undefined : rowOf(set, { member, score });
}

/** Members above `key` here and up to `radius` rows on each side of it (the member itself excluded). */
export function localNeighbours(set: SortedSet, key: ScoreKey, radius: number): Neighbours<BoardRow> {
  const r = Math.max(0, radius);
  const countAbove = set.countAbove(key.score, key.member, key.stamp ?? 0);
  const above = r === 0 || countAbove === 0 ? [] : set.revRange(Math.max(0, countAbove - r), countAbove - 1).map((e) => rowOf(set, e));
  const from = countAbove + (set.has(key.member) ? 1 : 0);
  const below = r === 0 ? [] : set.revRange(from, from + r - 1).map((e) => rowOf(set, e));
  return { countAbove, above, below };
}
