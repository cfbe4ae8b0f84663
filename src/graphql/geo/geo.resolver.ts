import { Inject } from '@nestjs/common';
import { Forwarding } from '../../cluster/forwarding.js';
import { Args, Context, Query, Resolver, Subscription } from '@nestjs/graphql';
import { authorizationOf, isClusterPeer, type GraphqlContext } from '../cluster/request-context.js';
import { ClusterLive } from '../live/cluster-live.service.js';
import { GeofenceEventsArgs, GeoMovedArgs, GeoNearestArgs, GeoPositionArgs, GeoSearchArgs, GeoWithinArgs } from './dto/geo.args.js';
import { GeoLiveService } from './geo-live.service.js';
import { GeoService } from './geo.service.js';
import { GeoHit, toGeoHitModel } from './models/geo-hit.model.js';
import { GeoMove } from './models/geo-move.model.js';
import { GeofenceEvent } from './models/geofence-event.model.js';
import { GeoWithinEvent } from './models/geo-within-event.model.js';

@Resolver(() => GeoHit)
export class GeoResolver {
  constructor(
    @Inject(GeoService) private readonly geo: GeoService,
    @Inject(GeoLiveService) private readonly live: GeoLiveService,
    @Inject(Forwarding) private readonly cluster: Forwarding,
    @Inject(ClusterLive) private readonly clusterLive: ClusterLive,
  ) {}

  @Query(() => [GeoHit], { description: 'Members within radiusMeters of the point, nearest first.' })
  async geoSearch(@Args() { index, lat, lon, radiusMeters, limit }: GeoSearchArgs, @Context() ctx?: GraphqlContext): Promise<GeoHit[]> {
    const hits = this.geo.gathered ? await this.geo.gatheredSearch(index, lat, lon, radiusMeters, limit, authorizationOf(ctx)) : this.geo.search(index, lat, lon, radiusMeters, limit);
    return hits.map(toGeoHitModel);
  }

  @Query(() => [GeoHit], { description: 'The k members nearest to the point.' })
  async geoNearest(@Args() { index, lat, lon, k }: GeoNearestArgs, @Context() ctx?: GraphqlContext): Promise<GeoHit[]> {
    const hits = this.geo.gathered ? await this.geo.gatheredNearest(index, lat, lon, k, authorizationOf(ctx)) : this.geo.nearest(index, lat, lon, k);
    return hits.map(toGeoHitModel);
  }

  @Query(() => GeoHit, { nullable: true, description: "A member's position; null when absent." })
  async geoPosition(@Args() { index, member }: GeoPositionArgs, @Context() ctx?: GraphqlContext): Promise<GeoHit | null> {
    const p = this.geo.gathered ? await this.geo.gatheredPosition(index, member, authorizationOf(ctx)) : this.geo.position(index, member);
    return p ? toGeoHitModel(p) : null;
  }

  @Subscription(() => GeofenceEvent, { resolve: (e: GeofenceEvent) => e, description: 'Enter and exit events of the index, or of one fence.' })
  geofenceEvents(@Args() { index, fence }: GeofenceEventsArgs, @Context() ctx?: GraphqlContext) {
    fence ??= undefined; // an explicit null (a variable) is no fence
    if (isClusterPeer(ctx)) return this.geo.fenceEvents(index, fence, this.clusterLive.served);
    if (!this.clusterLive.enabled) return this.geo.fenceEvents(index, fence);
    return this.clusterLive.geofenceEvents(index, fence);
  }

  @Subscription(() => GeoMove, {
    resolve: (m: GeoMove) => m,
    description: "The member's position now (when it has one), then each new position and its removal (`gone`, when its TTL expires); coalesced per tick, the latest wins.",
  })
  geoMoved(@Args() { index, member }: GeoMovedArgs) {
    if (!this.clusterLive.enabled) return this.live.moved(index, member);
    return this.clusterLive.geoMoved(index, member);
  }

  @Subscription(() => GeoWithinEvent, {
    resolve: (e: GeoWithinEvent) => e,
    description:
      'Members of the circle: first an `enter` for each member inside now, then each `enter`, `move` (a new position inside) and `exit` (moved out, or `gone` when its TTL expired). Coalesced per member per tick, never so that the inside/outside state a client builds from the messages ends wrong. Refused when the circle holds more than 10,000 members.',
  })
  geoWithin(@Args() { index, lat, lon, radiusMeters }: GeoWithinArgs, @Context() ctx?: GraphqlContext) {
    if (isClusterPeer(ctx)) return this.live.within(index, lat, lon, radiusMeters, this.clusterLive.served);
    if (!this.clusterLive.enabled) return this.live.within(index, lat, lon, radiusMeters);
    return this.clusterLive.geoWithin(index, lat, lon, radiusMeters);
  }
}
