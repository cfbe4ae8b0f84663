import { Field, Float, Int, ObjectType } from '@nestjs/graphql';
import { COMPOSITE_KEY_SEPARATOR, fieldTypeText, type FeatureSpec, type FenceSpec, type GeoSpec, type LeaderboardSpec, type Pipeline, type SourceSpec, type ViewSpec } from '../../../pipeline/pipeline.js';

@ObjectType({ description: 'A source of events: a Kafka topic, or fence events made inside Tally.' })
export class SourceInfo {
  @Field() name!: string;
  @Field() topic!: string;
  @Field(() => String, { nullable: true, description: 'Field giving the event time; null = Kafka timestamp / arrival.' }) timestampField!: string | null;
  @Field(() => Float, { description: 'Allowed lateness in milliseconds.' }) latenessMs!: number;
  @Field(() => String, { nullable: true, description: 'The geo index whose fence events this source carries; null for Kafka/HTTP sources.' }) fencesOf!: string | null;
}

@ObjectType({ description: 'A windowed feature as declared.' })
export class FeatureInfo {
  @Field() name!: string;
  @Field() source!: string;
  @Field({ description: 'Field path (dotted) giving the entity key.' }) entity!: string;
  @Field({ description: 'count | sum | min | max | avg | distinct | quantile | last | topk' }) aggregation!: string;
  @Field(() => String, { nullable: true }) field!: string | null;
  @Field(() => Float, { nullable: true }) quantile!: number | null;
  @Field(() => Int, { nullable: true, description: 'topk: how many items an answer lists.' }) k!: number | null;
  @Field(() => String, { nullable: true, description: 'topk: the field summed per item; null = each event counts 1.' }) weight!: string | null;
  @Field(() => [String], { description: 'As written in the pipeline: 1m, 1h, lifetime.' }) windows!: string[];
}

@ObjectType()
export class ViewFieldInfo {
  @Field() name!: string;
  @Field({ description: 'float | int | string | boolean | float[] | vector(N)' }) type!: string;
  @Field(() => String, { nullable: true, description: 'For a vector(N) field: the distance similar ranks by (cosine | l2 | ip).' }) metric!: string | null;
}

@ObjectType({ description: 'A feature view as declared.' })
export class ViewInfo {
  @Field() name!: string;
  @Field() source!: string;
  @Field() entity!: string;
  @Field(() => [ViewFieldInfo]) fields!: ViewFieldInfo[];
  @Field(() => Float, { nullable: true }) ttlMs!: number | null;
}

@ObjectType({ description: 'A leaderboard as declared.' })
export class LeaderboardInfo {
  @Field() name!: string;
  @Field() source!: string;
  @Field({ description: 'incr | max | set' }) mode!: string;
  @Field({ description: 'all | hour | day | week' }) period!: string;
  @Field(() => Int, { description: 'Past periods kept besides the current one.' }) keep!: number;
}

@ObjectType({ description: 'A static fence: a circle (lat, lon, radiusMeters) or a polygon.' })
export class FenceInfo {
  @Field() name!: string;
  @Field({ description: 'circle | polygon' }) kind!: string;
  @Field(() => Float, { nullable: true, description: 'Circle centre.' }) lat!: number | null;
  @Field(() => Float, { nullable: true, description: 'Circle centre.' }) lon!: number | null;
  @Field(() => Float, { nullable: true }) radiusMeters!: number | null;
  @Field(() => [[Float]], { nullable: true, description: 'Polygon vertices as [lat, lon] pairs.' }) polygon!: number[][] | null;
}

@ObjectType({ description: 'A geo index as declared, with its current number of members.' })
export class GeoIndexInfo {
  @Field() name!: string;
  @Field() source!: string;
  @Field(() => Float, { nullable: true }) ttlMs!: number | null;
  @Field(() => Int, { description: 'Members in the index now.' }) members!: number;
  @Field(() => [FenceInfo]) fences!: FenceInfo[];
}

@ObjectType({ description: 'What the pipeline file declares (what dashboards and tools can ask for).' })
export class PipelineInfo {
  @Field(() => [SourceInfo]) sources!: SourceInfo[];
  @Field(() => [FeatureInfo]) features!: FeatureInfo[];
  @Field(() => [ViewInfo]) views!: ViewInfo[];
  @Field(() => [LeaderboardInfo]) leaderboards!: LeaderboardInfo[];
  @Field(() => [GeoIndexInfo]) geoIndexes!: GeoIndexInfo[];
}

const path = (p: string[] | undefined): string | null => (p === undefined ? null : p.join('.'));

/** The pipeline as GraphQL models; `members(index)` gives a geo index's current size. */
export function toPipelineInfoModel(pipeline: Pipeline, members: (index: string) => number): PipelineInfo {
  return {
    sources: pipeline.sources.map(toSourceInfo),
    features: pipeline.features.map(toFeatureInfo),
    views: pipeline.views.map(toViewInfo),
    leaderboards: pipeline.leaderboards.map(toLeaderboardInfo),
    geoIndexes: pipeline.geo.map((g) => toGeoIndexInfo(g, members(g.name))),
  };
}

function toSourceInfo(s: SourceSpec): SourceInfo {
  return { name: s.name, topic: s.topic, timestampField: path(s.timestamp), latenessMs: s.latenessMs, fencesOf: s.derivedFrom?.geo ?? null };
}

/** `card.id`, or a composite key as its query form: `user_id|campaign_id`. */
function entityText(s: { entity: string[]; composite?: string[][] }): string {
  return s.composite === undefined ? s.entity.join('.') : s.composite.map((p) => p.join('.')).join(COMPOSITE_KEY_SEPARATOR);
}

function toFeatureInfo(f: FeatureSpec): FeatureInfo {
  return { name: f.name, source: f.source, entity: entityText(f), aggregation: f.aggregation, field: path(f.field), quantile: f.quantile ?? null, k: f.k ?? null, weight: path(f.weight), windows: f.windows.map((w) => w.label) };
}

function toViewInfo(v: ViewSpec): ViewInfo {
  return { name: v.name, source: v.source, entity: entityText(v), fields: v.fields.map((f) => ({ name: f.name, type: fieldTypeText(f), metric: f.metric ?? null })), ttlMs: v.ttlMs ?? null };
}

function toLeaderboardInfo(l: LeaderboardSpec): LeaderboardInfo {
  return { name: l.name, source: l.source, mode: l.mode, period: l.period, keep: l.keep };
}

function toGeoIndexInfo(g: GeoSpec, members: number): GeoIndexInfo {
  return { name: g.name, source: g.source, ttlMs: g.ttlMs ?? null, members, fences: g.fences.map(toFenceInfo) };
}

function toFenceInfo(f: FenceSpec): FenceInfo {
  if ('circle' in f) return { name: f.name, kind: 'circle', lat: f.circle.lat, lon: f.circle.lon, radiusMeters: f.circle.radiusMeters, polygon: null };
  return { name: f.name, kind: 'polygon', lat: null, lon: null, radiusMeters: null, polygon: f.polygon.map(([lat, lon]) => [lat, lon]) };
}
