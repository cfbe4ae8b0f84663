import { Inject } from '@nestjs/common';
import { Args, Query, Resolver, Subscription } from '@nestjs/graphql';
import { GeofenceEventsArgs, GeoNearestArgs, GeoPositionArgs, GeoSearchArgs } from './dto/geo.args.js';
import { GeoService } from './geo.service.js';
import { GeoHit, toGeoHitModel } from './models/geo-hit.model.js';
import { GeofenceEvent } from './models/geofence-event.model.js';

@Resolver(() => GeoHit)
export class GeoResolver {
  constructor(@Inject(GeoService) private readonly geo: GeoService) {}

  @Query(() => [GeoHit], { description: 'Members within radiusMeters of the point, nearest first.' })
  geoSearch(@Args() { index, lat, lon, radiusMeters, limit }: GeoSearchArgs): GeoHit[] {
    return this.geo.search(index, lat, lon, radiusMeters, limit).map(toGeoHitModel);
  }

  @Query(() => [GeoHit], { description: 'The k members nearest to the point.' })
  geoNearest(@Args() { index, lat, lon, k }: GeoNearestArgs): GeoHit[] {
    return this.geo.nearest(index, lat, lon, k).map(toGeoHitModel);
  }

  @Query(() => GeoHit, { nullable: true, description: "A member's position; null when absent." })
  geoPosition(@Args() { index, member }: GeoPositionArgs): GeoHit | null {
    const p = this.geo.position(index, member);
    return p ? toGeoHitModel(p) : null;
  }

  @Subscription(() => GeofenceEvent, { resolve: (e: GeofenceEvent) => e, description: 'Enter and exit events of the index, or of one fence.' })
  geofenceEvents(@Args() { index, fence }: GeofenceEventsArgs) {
    return this.geo.fenceEvents(index, fence);
  }
}
