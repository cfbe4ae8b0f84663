import { Inject } from '@nestjs/common';
import { Forwarding } from '../../cluster/forwarding.js';
import { Args, Query, Resolver, Subscription } from '@nestjs/graphql';
import { LeaderboardAroundArgs, LeaderboardArgs, LeaderboardChangedArgs, LeaderboardRankArgs } from './dto/leaderboard.args.js';
import { LeaderboardService } from './leaderboard.service.js';
import { LeaderboardEntry, toLeaderboardEntryModel } from './models/leaderboard-entry.model.js';

@Resolver(() => LeaderboardEntry)
export class LeaderboardResolver {
  constructor(
    @Inject(LeaderboardService) private readonly leaderboards: LeaderboardService,
    @Inject(Forwarding) private readonly cluster: Forwarding,
  ) {}

  @Query(() => [LeaderboardEntry], { description: 'Rows offset+1 .. offset+limit, highest score first.' })
  leaderboard(@Args() { name, period, offset, limit }: LeaderboardArgs): LeaderboardEntry[] {
    this.cluster.requireAllPartitions('leaderboard');
    return this.leaderboards.top(name, offset, limit, period).map(toLeaderboardEntryModel);
  }

  @Query(() => LeaderboardEntry, { nullable: true, description: "A member's rank and score; null when absent." })
  leaderboardRank(@Args() { name, member, period }: LeaderboardRankArgs): LeaderboardEntry | null {
    this.cluster.requireAllPartitions('leaderboardRank');
    const row = this.leaderboards.rank(name, member, period);
    return row && toLeaderboardEntryModel(row);
  }

  @Query(() => [LeaderboardEntry], { description: 'A member with up to `radius` rows above and below; empty when absent.' })
  leaderboardAround(@Args() { name, member, radius, period }: LeaderboardAroundArgs): LeaderboardEntry[] {
    this.cluster.requireAllPartitions('leaderboardAround');
    return this.leaderboards.around(name, member, radius, period).map(toLeaderboardEntryModel);
  }

  @Subscription(() => [LeaderboardEntry], { resolve: (rows: LeaderboardEntry[]) => rows, description: 'The top rows now, then each time they change (rate-limited, coalesced); each row carries when its score last changed.' })
  leaderboardChanged(@Args() { name, top, period }: LeaderboardChangedArgs) {
    this.cluster.requireAllPartitions('leaderboardChanged');
    return this.leaderboards.changed(name, top, period);
  }
}
