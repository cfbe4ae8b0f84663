import { Field, Float, Int, ObjectType } from '@nestjs/graphql';
import type { LeaderboardEntry as EngineEntry } from '../../../leaderboard/index.js';

@ObjectType({ description: 'One row of a leaderboard. Ranks start at 1 (the highest score).' })
export class LeaderboardEntry {
  @Field(() => Int) rank!: number;
  @Field() member!: string;
  @Field(() => Float) score!: number;
  @Field(() => Date, {
    nullable: true,
    description:
      "Event time of the update that last changed the member's score in this period: the time the score reflects. An update that leaves the score as it was (a `max` below the best) does not move it. Null only for a member restored from a snapshot written before Tally kept it.",
  })
  updatedAt!: Date | null;
}

export function toLeaderboardEntryModel(e: EngineEntry): LeaderboardEntry {
  return { rank: e.rank, member: e.member, score: e.score, updatedAt: e.changedAt === null ? null : new Date(e.changedAt) };
}
