import { Field, Float, ObjectType } from '@nestjs/graphql';
import type { Change } from '../../../changes/change-feed.js';
import type { CircleChange } from '../../../geo/index.js';

@ObjectType({ description: 'A member entered, moved inside or left the circle of a `geoWithin` subscription.' })
export class GeoWithinEvent {
  @Field() index!: string;
  @Field() member!: string;
  @Field(() => String, { description: 'enter | move | exit' }) kind!: CircleChange;
  @Field(() => Float, { description: 'The stored position; for an exit, the position outside the circle, or the last one when `gone`.' }) lat!: number;
  @Field(() => Float) lon!: number;
  @Field({ description: 'When that position was reported (event time).' }) reportedAt!: Date;
  @Field({ description: 'True on an exit because the member left the index (its TTL expired), not the circle.' }) gone!: boolean;
  @Field({ description: 'When this happened: the report time, or the moment a member timed out (its last report + the TTL).' }) at!: Date;
}

export function toGeoWithinEventModel(kind: CircleChange, change: Extract<Change, { kind: 'geo' }>): GeoWithinEvent {
  return { index: change.name, member: change.member, kind, lat: change.lat, lon: change.lon, reportedAt: new Date(change.reportedAt), gone: change.gone, at: new Date(change.ts) };
}
