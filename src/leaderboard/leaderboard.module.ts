import { Module } from '@nestjs/common';
import { PIPELINE } from '../settings/tokens.js';
import type { Pipeline } from '../pipeline/pipeline.js';
import { LeaderboardStore } from './leaderboard.js';

/** Builds the leaderboards of the pipeline. */
@Module({
  providers: [
    {
      provide: LeaderboardStore,
      useFactory: (p: Pipeline) => new LeaderboardStore(p.leaderboards.map((l) => ({ name: l.name, mode: l.mode, period: l.period, keep: l.keep, ttlMs: l.ttlMs, ties: l.ties }))),
      inject: [PIPELINE],
    },
  ],
  exports: [LeaderboardStore],
})
export class LeaderboardModule {}
