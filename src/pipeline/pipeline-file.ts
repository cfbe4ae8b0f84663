/**
 * The pipeline file's shape, as class-validator classes: what each entry must hold and of
 * which type. Only the shape is checked here; durations, references between entries and
 * duplicate names are checked by `compilePipeline`, which reports every problem by path.
 */
import 'reflect-metadata';
import { Type } from 'class-transformer';
import {
  ArrayMinSize,
  IsArray,
  IsIn,
  IsInt,
  IsNumber,
  IsObject,
  IsOptional,
  IsString,
  Matches,
  Max,
  Min,
  ValidateBy,
  ValidateNested,
} from 'class-validator';
import { AGGREGATIONS, MAX_TOPK } from './pipeline.js';

/** Names are used in GraphQL arguments, metrics labels and `feature:window` references. */
const NAME = /^[A-Za-z_][A-Za-z0-9_.-]*$/;
const NAME_MESSAGE = 'must be a name of letters, digits, "_", "-" or "." starting with a letter or "_"';
/** A field path: names joined by dots. */
const PATH = /^[^.\s]+(\.[^.\s]+)*$/;
const PATH_MESSAGE = 'must be a field path such as "card_id" or "card.id"';
/** Fields of a composite key: enough for (user, campaign, creative, ...), few enough to stay a key. */
export const MAX_KEY_FIELDS = 8;

const isPath = (v: unknown): boolean => typeof v === 'string' && PATH.test(v);

/** An entity: one field path, or a list of 2..MAX_KEY_FIELDS distinct paths (a composite key). */
function IsEntity() {
  return ValidateBy({
    name: 'isEntity',
    validator: {
      validate: (v: unknown) => isPath(v) || (Array.isArray(v) && v.length >= 2 && v.length <= MAX_KEY_FIELDS && v.every(isPath) && new Set(v).size === v.length),
      defaultMessage: () => `must be a field path such as "card_id", or a list of 2 to ${MAX_KEY_FIELDS} distinct paths such as [user_id, campaign_id]`,
    },
  });
}

/** topk's `k`: a whole number from 1 to MAX_TOPK (one message whatever is wrong with it). */
function IsTopK() {
  return ValidateBy({
    name: 'isTopK',
    validator: {
      validate: (v: unknown) => Number.isInteger(v) && (v as number) >= 1 && (v as number) <= MAX_TOPK,
      defaultMessage: () => `must be a whole number from 1 to ${MAX_TOPK}`,
    },
  });
}

export class SourceEntry {
  @IsString() @Matches(NAME, { message: NAME_MESSAGE }) name!: string;
  @IsOptional() @IsString() topic?: string;
  @IsOptional() @IsString() @Matches(PATH, { message: PATH_MESSAGE }) timestamp?: string;
  @IsOptional() @IsString() lateness?: string;
  /** The field whose value keys the events produced to the topic in a cluster (see message-key.ts). */
  @IsOptional() @IsString() @Matches(PATH, { message: PATH_MESSAGE }) key?: string;
}

export class FeatureEntry {
  @IsString() @Matches(NAME, { message: NAME_MESSAGE }) name!: string;
  @IsString() source!: string;
  @IsEntity() entity!: string | string[];
  @IsIn(AGGREGATIONS as string[], { message: `must be one of ${AGGREGATIONS.join(', ')}` }) aggregation!: string;
  @IsOptional() @IsString() @Matches(PATH, { message: PATH_MESSAGE }) field?: string;
  @IsOptional() @IsNumber() @Min(0) @Max(1) quantile?: number;
  @IsOptional() @IsTopK() k?: number;
  @IsOptional() @IsString() @Matches(PATH, { message: PATH_MESSAGE }) weight?: string;
  @IsArray() @ArrayMinSize(1) windows!: unknown[];
  @IsOptional() @IsString() history?: string;
  @IsOptional() @IsString() where?: string;
}

export class ViewEntry {
  @IsString() @Matches(NAME, { message: NAME_MESSAGE }) name!: string;
  @IsString() source!: string;
  @IsEntity() entity!: string | string[];
  @IsObject() fields!: Record<string, unknown>;
  @IsOptional() @IsString() ttl?: string;
  @IsOptional() @IsString() history?: string;
  @IsOptional() @IsString() where?: string;
}

export class LeaderboardEntry {
  @IsString() @Matches(NAME, { message: NAME_MESSAGE }) name!: string;
  @IsString() source!: string;
  @IsString() @Matches(PATH, { message: PATH_MESSAGE }) member!: string;
  @IsString() @Matches(PATH, { message: PATH_MESSAGE }) score!: string;
  @IsOptional() @IsIn(['incr', 'max', 'set'], { message: 'must be one of incr, max, set' }) mode?: string;
  @IsOptional() @IsIn(['all', 'hour', 'day', 'week'], { message: 'must be one of all, hour, day, week' }) period?: string;
  @IsOptional() @IsInt() @Min(0) @Max(1000) keep?: number;
  @IsOptional() @IsString() ttl?: string;
  @IsOptional() @IsIn(['redis', 'first'], { message: 'must be one of redis, first' }) ties?: string;
  @IsOptional() @IsString() where?: string;
}

export class CircleEntry {
  @IsNumber() @Min(-85.05112878) @Max(85.05112878) lat!: number;
  @IsNumber() @Min(-180) @Max(180) lon!: number;
  @IsNumber() @Min(0) radiusMeters!: number;
}

export class FenceEntry {
  @IsString() @Matches(NAME, { message: NAME_MESSAGE }) name!: string;
  @IsOptional() @ValidateNested() @Type(() => CircleEntry) circle?: CircleEntry;
  @IsOptional() @IsArray() polygon?: unknown[];
}

export class GeoEntry {
  @IsString() @Matches(NAME, { message: NAME_MESSAGE }) name!: string;
  @IsString() source!: string;
  @IsString() @Matches(PATH, { message: PATH_MESSAGE }) member!: string;
  @IsString() @Matches(PATH, { message: PATH_MESSAGE }) lat!: string;
  @IsString() @Matches(PATH, { message: PATH_MESSAGE }) lon!: string;
  @IsOptional() @IsString() ttl?: string;
  @IsOptional() @IsArray() @ValidateNested({ each: true }) @Type(() => FenceEntry) fences?: FenceEntry[];
}

export class OnDemandEntry {
  @IsString() @Matches(NAME, { message: NAME_MESSAGE }) name!: string;
  @IsOptional() @IsObject() inputs?: Record<string, unknown>;
  @IsOptional() @IsObject() request?: Record<string, unknown>;
  @IsString() expression!: string;
}

export class PipelineFile {
  @IsArray() @ValidateNested({ each: true }) @Type(() => SourceEntry) sources!: SourceEntry[];
  @IsOptional() @IsArray() @ValidateNested({ each: true }) @Type(() => FeatureEntry) features?: FeatureEntry[];
  @IsOptional() @IsArray() @ValidateNested({ each: true }) @Type(() => ViewEntry) views?: ViewEntry[];
  @IsOptional() @IsArray() @ValidateNested({ each: true }) @Type(() => LeaderboardEntry) leaderboards?: LeaderboardEntry[];
  @IsOptional() @IsArray() @ValidateNested({ each: true }) @Type(() => GeoEntry) geo?: GeoEntry[];
  @IsOptional() @IsArray() @ValidateNested({ each: true }) @Type(() => OnDemandEntry) on_demand?: OnDemandEntry[];
  /** Free text; lets a file say what it is for. */
  @IsOptional() @IsString() description?: string;
}
