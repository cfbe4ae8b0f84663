import { Field, Float, Int, ObjectType } from '@nestjs/graphql';

@ObjectType({ description: 'One row of a leaderboard. Ranks start at 1 (the highest score).' })
export class LeaderboardEntry {
  @Field(() => Int) rank!: number;
  @Field() member!: string;
  @Field(() => Float) score!: number;
}
