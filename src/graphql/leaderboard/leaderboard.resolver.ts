import { Inject } from '@nestjs/common';
import { Forwarding } from '../../cluster/forwarding.js';
import { Args, Context, Query, Resolver, Subscription } from '@nestjs/graphql';
import { authorizationOf, isClusterPeer, type GraphqlContext } from '../cluster/request-context.js';
import { ClusterLive } from '../live/cluster-live.service.js';
import { LeaderboardAroundArgs, LeaderboardArgs, LeaderboardChangedArgs, LeaderboardRankArgs } from './dto/leaderboard.args.js';
import { LeaderboardService } from './leaderboard.service.js';
import { LeaderboardEntry, toLeaderboardEntryModel } from './models/leaderboard-entry.model.js';

@Resolver(() => LeaderboardEntry)
export class LeaderboardResolver {
  constructor(
    @Inject(LeaderboardService) private readonly leaderboards: LeaderboardService,
    @Inject(Forwarding) private readonly cluster: Forwarding,
    @Inject(ClusterLive) private readonly clusterLive: ClusterLive,
  ) {}

  @Query(() => [LeaderboardEntry], { description: 'Rows offset+1 .. offset+limit, highest score first.' })
  async leaderboard(@Args() { name, period, offset, limit }: LeaderboardArgs, @Context() ctx?: GraphqlContext): Promise<LeaderboardEntry[]> {
    const rows = this.leaderboards.gathered ? await this.leaderboards.gatheredTop(name, offset, limit, period, authorizationOf(ctx)) : this.leaderboards.top(name, offset, limit, period);
    return rows.map(toLeaderboardEntryModel);
  }

  @Query(() => LeaderboardEntry, { nullable: true, description: "A member's rank and score; null when absent." })
  async leaderboardRank(@Args() { name, member, period }: LeaderboardRankArgs, @Context() ctx?: GraphqlContext): Promise<LeaderboardEntry | null> {
    const row = this.leaderboards.gathered ? await this.leaderboards.gatheredRank(name, member, period, authorizationOf(ctx)) : this.leaderboards.rank(name, member, period);
    return row && toLeaderboardEntryModel(row);
  }

  @Query(() => [LeaderboardEntry], { description: 'A member with up to `radius` rows above and below; empty when absent.' })
  async leaderboardAround(@Args() { name, member, radius, period }: LeaderboardAroundArgs, @Context() ctx?: GraphqlContext): Promise<LeaderboardEntry[]> {
    const rows = this.leaderboards.gathered ? await this.leaderboards.gatheredAround(name, member, radius, period, authorizationOf(ctx)) : this.leaderboards.around(name, member, radius, period);
    return rows.map(toLeaderboardEntryModel);
  }

  @Subscription(() => [LeaderboardEntry], { resolve: (rows: LeaderboardEntry[]) => rows, description: 'The top rows now, then each time they change (rate-limited, coalesced); each row carries when its score last changed.' })
  leaderboardChanged(@Args() { name, top, period }: LeaderboardChangedArgs, @Context() ctx?: GraphqlContext) {
    // A peer's subscription is its trigger: this member's own top rows changed (see ClusterLive).
    if (isClusterPeer(ctx) || !this.clusterLive.enabled) return this.leaderboards.changed(name, top, period);
    return this.clusterLive.leaderboardChanged(name, top, period ?? 'current');
  }
}
