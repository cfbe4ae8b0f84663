import { buildLeaderboardStore } from '../store-set.js';
import { Module } from '@nestjs/common';
import { PIPELINE } from '../settings/tokens.js';
import { LeaderboardStore } from './leaderboard.js';

/** Builds the leaderboards of the pipeline. */
@Module({
  providers: [
    {
      provide: LeaderboardStore,
      useFactory: buildLeaderboardStore,
      inject: [PIPELINE],
    },
  ],
  exports: [LeaderboardStore],
})
export class LeaderboardModule {}
