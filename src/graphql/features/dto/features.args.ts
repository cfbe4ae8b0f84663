import { BadRequestException } from '@nestjs/common';
import { ArgsType, Field, Float } from '@nestjs/graphql';
import { IsOptional, IsString, MaxLength } from 'class-validator';

/** Feature names one onlineFeatures call may ask for (entities: TALLY_MAX_ONLINE_ENTITIES, settings/limits.ts). */
export const MAX_ONLINE_FEATURES = 200;

@ArgsType()
export class FeatureArgs {
  @Field() @IsString() @MaxLength(200) name!: string;
  @Field() @IsString() @MaxLength(512) entity!: string;
  @Field() @IsString() @MaxLength(20) window!: string;
}

@ArgsType()
export class FeatureQueryArgs extends FeatureArgs {
  @Field(() => Float, { nullable: true, description: "Quantile features: the rank to answer (0.99), instead of the declared one, from the window's sketch; ask several with aliases." })
  @IsOptional()
  quantile?: number;

  @Field(() => Date, { nullable: true, description: 'As-of read: the answer a read at this moment would have given, from the events with event time at or before it (the store must declare history: reaching back to it).' })
  @IsOptional()
  at?: Date;
}

@ArgsType()
export class FeatureVectorArgs {
  @Field() @IsString() @MaxLength(200) view!: string;
  @Field() @IsString() @MaxLength(512) entity!: string;
  @Field(() => Date, { nullable: true, description: 'As-of read: the answer a read at this moment would have given, from the events with event time at or before it (the store must declare history: reaching back to it).' })
  @IsOptional()
  at?: Date;
}

/** The description of every `at:` argument. */
export const AS_OF_DESCRIPTION = 'As-of read: the answer a read at this moment would have given, from the events with event time at or before it (the store must declare history: reaching back to it).';

/** Longest entity key onlineFeatures accepts. */
export const MAX_ENTITY_LENGTH = 512;

/**
 * The bounds of onlineFeatures' arguments, checked by hand rather than by class-validator:
 * the global ValidationPipe (plainToInstance + validate over every list element) was about a
 * quarter of the CPU of a 1 x 20 request. GraphQL has already checked that both are lists of
 * strings. `maxEntities` is the TALLY_MAX_ONLINE_ENTITIES setting (Limits.maxOnlineEntities).
 * Throws what the ValidationPipe would: a BadRequestException with class-validator's messages.
 */
export function checkOnlineFeaturesArgs(entities: readonly string[], features: readonly string[], maxEntities: number): void {
  const problems: string[] = [];
  if (entities.length > maxEntities) problems.push(`entities must contain no more than ${maxEntities} elements`);
  for (const e of entities) {
    if (e.length > MAX_ENTITY_LENGTH) {
      problems.push(`each value in entities must be shorter than or equal to ${MAX_ENTITY_LENGTH} characters`);
      break;
    }
  }
  if (features.length < 1) problems.push('features must contain at least 1 elements');
  if (features.length > MAX_ONLINE_FEATURES) problems.push(`features must contain no more than ${MAX_ONLINE_FEATURES} elements`);
  if (problems.length > 0) throw new BadRequestException(problems);
}

@ArgsType()
export class FeatureThresholdArgs {
  @Field() @IsString() @MaxLength(200) name!: string;
  @Field() @IsString() @MaxLength(20) window!: string;
  @Field(() => Float, { nullable: true, description: 'Alert when the value rises above this (exactly one of `above` and `below`).' }) above?: number | null;
  @Field(() => Float, { nullable: true, description: 'Alert when the value drops under this (exactly one of `above` and `below`; a drained count is 0).' }) below?: number | null;
}
