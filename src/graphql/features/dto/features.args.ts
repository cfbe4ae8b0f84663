import { ArgsType, Field, Float } from '@nestjs/graphql';
import { ArrayMaxSize, ArrayMinSize, IsString, MaxLength } from 'class-validator';

/** Entities one onlineFeatures call may ask for (a batch is served in one call). */
export const MAX_ONLINE_ENTITIES = Number(process.env.TALLY_MAX_ONLINE_ENTITIES ?? 1_000);
/** Feature names one onlineFeatures call may ask for. */
export const MAX_ONLINE_FEATURES = 200;

@ArgsType()
export class FeatureArgs {
  @Field() @IsString() @MaxLength(200) name!: string;
  @Field() @IsString() @MaxLength(512) entity!: string;
  @Field() @IsString() @MaxLength(20) window!: string;
}

@ArgsType()
export class FeatureVectorArgs {
  @Field() @IsString() @MaxLength(200) view!: string;
  @Field() @IsString() @MaxLength(512) entity!: string;
}

@ArgsType()
export class OnlineFeaturesArgs {
  @Field(() => [String]) @ArrayMaxSize(MAX_ONLINE_ENTITIES) @IsString({ each: true }) @MaxLength(512, { each: true }) entities!: string[];
  @Field(() => [String]) @ArrayMinSize(1) @ArrayMaxSize(MAX_ONLINE_FEATURES) @IsString({ each: true }) features!: string[];
}

@ArgsType()
export class FeatureThresholdArgs {
  @Field() @IsString() @MaxLength(200) name!: string;
  @Field() @IsString() @MaxLength(20) window!: string;
  @Field(() => Float) above!: number;
}
