/** Geo reads for the resolvers, and the fence event stream behind `geofenceEvents`. */
import { Inject, Injectable } from '@nestjs/common';
import { Gather } from '../../cluster/gather.js';
import { mergeNearest } from '../../cluster/merge.js';
import { GeoCollection, GeoStore, type GeoHit, type GeoPoint } from '../../geo/index.js';
import { fenceTopic, type Change, type ChangeFeed } from '../../changes/change-feed.js';
import { CHANGES } from '../../settings/tokens.js';
import { UnknownNameError } from '../errors.js';
import { CoalescingQueue } from '../live/coalescing-queue.js';
import type { GeofenceEvent } from './models/geofence-event.model.js';

/** Fence events buffered per subscription before new ones are dropped (and counted). */
export const MAX_PENDING_FENCE_EVENTS = 10_000;

/**
 * One GeofenceEvent per change, whichever subscriptions receive it: the same object for all of
 * them lets sharedSubscribe execute each subscription document once per event.
 */
const events = new WeakMap<Change, GeofenceEvent>();
function toEvent(index: string, change: Extract<Change, { kind: 'fence' }>): GeofenceEvent {
  let event = events.get(change);
  if (event === undefined) {
    event = { index, fence: change.fence, member: change.member, kind: change.enter ? 'enter' : 'exit', lat: change.lat, lon: change.lon, at: new Date(change.ts) };
    events.set(change, event);
  }
  return event;
}

@Injectable()
export class GeoService {
  constructor(
    @Inject(GeoStore) private readonly store: GeoStore,
    @Inject(CHANGES) private readonly changes: ChangeFeed<Change>,
    @Inject(Gather) private readonly gather: Gather,
  ) {}

  /** True in a cluster: reads are gathered from every member and merged (nearest first, then by member). */
  get gathered(): boolean {
    return this.gather.enabled;
  }

  async gatheredSearch(index: string, lat: number, lon: number, radiusMeters: number, limit: number, authorization?: string): Promise<GeoHit[]> {
    this.collection(index);
    return mergeNearest(await this.gather.all({ kind: 'geoSearch', index, lat, lon, radiusMeters, limit }, authorization), limit);
  }

  async gatheredNearest(index: string, lat: number, lon: number, k: number, authorization?: string): Promise<GeoHit[]> {
    this.collection(index);
    return mergeNearest(await this.gather.all({ kind: 'geoNearest', index, lat, lon, k }, authorization), k);
  }

  async gatheredPosition(index: string, member: string, authorization?: string): Promise<GeoPoint | undefined> {
    this.collection(index);
    return (await this.gather.all({ kind: 'geoPosition', index, member }, authorization)).find((p) => p !== null) ?? undefined;
  }

  collection(index: string): GeoCollection {
    const c = this.store.get(index);
    if (c === undefined) throw new UnknownNameError(`unknown geo index "${index}"${this.store.names.length ? ` (indexes: ${this.store.names.join(', ')})` : ''}`);
    return c;
  }

  search(index: string, lat: number, lon: number, radiusMeters: number, limit: number): GeoHit[] {
    return this.collection(index).search(lat, lon, radiusMeters, limit);
  }

  nearest(index: string, lat: number, lon: number, k: number): GeoHit[] {
    return this.collection(index).nearest(lat, lon, k);
  }

  position(index: string, member: string): GeoPoint | undefined {
    return this.collection(index).position(member);
  }

  /** Every enter/exit of the index (or of one fence), in order; none is coalesced away. */
  /** `only`: events of the members it accepts (in a cluster, those of the partitions this member serves now). */
  fenceEvents(index: string, fence?: string, only?: (member: string) => boolean): CoalescingQueue<GeofenceEvent> {
    const c = this.collection(index);
    if (fence !== undefined && !c.fenceNames.includes(fence)) {
      throw new UnknownNameError(`geo index "${index}" has no fence "${fence}" (fences: ${c.fenceNames.join(', ') || 'none'})`);
    }
    let unsubscribe = () => {};
    const queue = new CoalescingQueue<GeofenceEvent>(() => unsubscribe(), MAX_PENDING_FENCE_EVENTS);
    unsubscribe = this.changes.subscribe(fenceTopic(index), (change) => {
      if (change.kind !== 'fence' || (fence !== undefined && change.fence !== fence) || (only !== undefined && !only(change.member))) return;
      queue.push(toEvent(index, change));
    });
    return queue;
  }
}
