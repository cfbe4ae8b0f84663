import { ArgsType, Field, Float, Int } from '@nestjs/graphql';
import { ArrayMaxSize, IsArray, IsInt, IsOptional, IsString, Max, MaxLength, Min } from 'class-validator';
import { MAX_VECTOR_DIMS } from '../../../pipeline/pipeline.js';

/** The most neighbours one similar call returns. */
export const MAX_SIMILAR_K = 1_000;

@ArgsType()
export class SimilarArgs {
  @Field() @IsString() @MaxLength(200) view!: string;
  @Field({ description: 'A vector(N) field of the view.' }) @IsString() @MaxLength(200) field!: string;
  @Field(() => Int, { description: `How many entities to return (1 to ${MAX_SIMILAR_K}); fewer only when fewer pass \`where\`.` })
  @IsInt()
  @Min(1)
  @Max(MAX_SIMILAR_K)
  k!: number;

  @Field(() => [Float], { nullable: true, description: 'Search near this vector (N numbers). Exactly one of vector and entity.' })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(MAX_VECTOR_DIMS)
  vector?: number[] | null;

  @Field(() => String, { nullable: true, description: "Search near this entity's vector; the entity itself is left out of the answer. Exactly one of vector and entity." })
  @IsOptional()
  @IsString()
  @MaxLength(512)
  entity?: string | null;

  @Field(() => String, { nullable: true, description: 'A condition over the view\'s other fields, as the pipeline\'s `where:` (CEL), e.g. `country == "FR" && !blocked`.' })
  @IsOptional()
  @IsString()
  @MaxLength(2_000)
  where?: string | null;
}
