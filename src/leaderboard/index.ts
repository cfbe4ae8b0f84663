// Public face of the leaderboard engine: the sorted set (Redis ZSET semantics, 0-based
// ranks) and the period leaderboards built on it (1-based ranks, as the GraphQL API).
export { SortedSet } from './sorted-set.js';
export type { Entry, RankedEntry, RangeByScoreOptions, SortedSetOptions, SortedSetRecord, TieOrder, TimedEntry } from './sorted-set.js';
export { Leaderboard, LeaderboardStore } from './leaderboard.js';
export type { LeaderboardEntry, LeaderboardMode, LeaderboardOptions, LeaderboardPeriod, LeaderboardState, PeriodRef, PeriodState } from './leaderboard.js';
export { compareUtf8 } from './utf8-order.js';
