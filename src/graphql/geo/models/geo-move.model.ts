import { Field, Float, ObjectType } from '@nestjs/graphql';
import type { Change } from '../../../changes/change-feed.js';

@ObjectType({ description: "A member's new position (`geoMoved`), or its removal from the index (`gone`)." })
export class GeoMove {
  @Field() index!: string;
  @Field() member!: string;
  @Field(() => Float, { description: 'The stored position; when `gone`, the last one.' }) lat!: number;
  @Field(() => Float) lon!: number;
  @Field({ description: 'When that position was reported (event time).' }) reportedAt!: Date;
  @Field({ description: 'True when the member left the index (its TTL expired): it has no position any more; lat, lon and reportedAt are its last.' })
  gone!: boolean;
  @Field({ description: 'When this happened: the report time of a position, or the moment a member timed out (its last report + the TTL).' })
  at!: Date;
}

export function toGeoMoveModel(change: Extract<Change, { kind: 'geo' }>): GeoMove {
  return { index: change.name, member: change.member, lat: change.lat, lon: change.lon, reportedAt: new Date(change.reportedAt), gone: change.gone, at: new Date(change.ts) };
}
