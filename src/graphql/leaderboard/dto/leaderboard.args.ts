import { ArgsType, Field, Int } from '@nestjs/graphql';
import { IsOptional, IsString, Max, MaxLength, Min } from 'class-validator';

/** Rows one leaderboard query or subscription may ask for. */
export const MAX_LEADERBOARD_ROWS = 1_000;
/** Rows on each side of a member in leaderboardAround. */
export const MAX_AROUND_RADIUS = 100;
/** Top-N a leaderboardChanged subscription may follow. */
export const MAX_SUBSCRIBED_TOP = 100;

@ArgsType()
class BoardArgs {
  @Field() @IsString() @MaxLength(200) name!: string;
  @Field({ nullable: true, description: 'current (default), previous, or an ISO-8601 date/time inside the period' })
  @IsOptional()
  @IsString()
  @MaxLength(40)
  period?: string;
}

@ArgsType()
export class LeaderboardArgs extends BoardArgs {
  @Field(() => Int, { defaultValue: 0 }) @Min(0) @Max(1_000_000) offset!: number;
  @Field(() => Int, { defaultValue: 10 }) @Min(1) @Max(MAX_LEADERBOARD_ROWS) limit!: number;
}

@ArgsType()
export class LeaderboardRankArgs extends BoardArgs {
  @Field() @IsString() @MaxLength(512) member!: string;
}

@ArgsType()
export class LeaderboardAroundArgs extends LeaderboardRankArgs {
  @Field(() => Int, { defaultValue: 5 }) @Min(0) @Max(MAX_AROUND_RADIUS) radius!: number;
}

@ArgsType()
export class LeaderboardChangedArgs extends BoardArgs {
  @Field(() => Int, { defaultValue: 10 }) @Min(1) @Max(MAX_SUBSCRIBED_TOP) top!: number;
}
