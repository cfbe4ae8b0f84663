import { Field, Float, ObjectType } from '@nestjs/graphql';
import type { GeoHit as EngineHit, GeoPoint } from '../../../geo/index.js';

@ObjectType({ description: 'A member of a geo index at its stored position.' })
export class GeoHit {
  @Field() member!: string;
  @Field(() => Float) lat!: number;
  @Field(() => Float) lon!: number;
  @Field(() => Float, { nullable: true, description: 'Great-circle distance from the query point (Earth radius 6372797.560856 m, as Redis).' })
  distanceMeters!: number | null;
  @Field({ description: 'When the position was reported: the event time of the update that stored it (the newest seen for the member).' })
  reportedAt!: Date;
}

export function toGeoHitModel(hit: EngineHit | GeoPoint): GeoHit {
  return { member: hit.member, lat: hit.lat, lon: hit.lon, distanceMeters: 'distanceMeters' in hit ? hit.distanceMeters : null, reportedAt: new Date(hit.lastSeen) };
}
