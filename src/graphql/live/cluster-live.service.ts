/**
 * Subscriptions in a cluster (src/cluster/follow.ts). A single instance does not use this
 * (enabled is false).
 *
 * - One entity (featureUpdated, viewUpdated, geoMoved): each (operation, entity) is followed
 *   where its partition is owned, by one Follower shared by every local subscriber; a
 *   subscriber's queue gets every value relayed, coalesced as a local one. A subscription
 *   stays open across rebalances and the loss of the owner: it delivers again once another
 *   member owns the partition.
 * - Streams of the whole set (featureThreshold, geofenceEvents, geoWithin): the union of every
 *   member's part, each member sending what happens in the partitions it serves (not those it
 *   is restoring or handing over), coalesced as a local stream is (per entity, per member;
 *   fence events not at all). An event happens where its entity is owned, so each is sent once.
 *   While a member is lost and its partitions not yet taken over, their events are not sent
 *   (none happen: nobody applies them); the new owner's part starts where its state does.
 * - leaderboardChanged: every member's change of its own top rows (sent by each member, as a
 *   trigger) asks for the gathered top rows, exact or not at all (see LeaderboardService), at
 *   most TALLY_LEADERBOARD_MAX_HZ times a second; a change of the whole top rows is sent.
 *   While a partition is unavailable nothing is sent; the rows are gathered again until it is.
 */
import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { ClusterState } from '../../cluster/cluster-state.js';
import { Follower, PeerFanout, PeerSubscriptions, type FollowSpec } from '../../cluster/follow.js';
import type { Settings } from '../../settings/settings.js';
import { SETTINGS } from '../../settings/tokens.js';
import { FeatureLiveService } from '../features/feature-live.service.js';
import type { FeatureValue } from '../features/models/feature-value.model.js';
import type { FeatureVector } from '../features/models/feature-vector.model.js';
import { ViewLiveService } from '../features/view-live.service.js';
import type { ThresholdCrossing } from '../features/models/threshold-crossing.model.js';
import type { Threshold } from '../../features/index.js';
import { GeoLiveService, WithinSubscriber } from '../geo/geo-live.service.js';
import { GeoService, MAX_PENDING_FENCE_EVENTS } from '../geo/geo.service.js';
import type { GeofenceEvent } from '../geo/models/geofence-event.model.js';
import type { GeoMove } from '../geo/models/geo-move.model.js';
import type { GeoWithinEvent } from '../geo/models/geo-within-event.model.js';
import { LeaderboardService } from '../leaderboard/leaderboard.service.js';
import { toLeaderboardEntryModel, type LeaderboardEntry } from '../leaderboard/models/leaderboard-entry.model.js';
import { CoalescingQueue, type Consumer, type Pullable } from './coalescing-queue.js';

interface Followed<T> {
  follower: Follower<T> | undefined;
  queues: Set<CoalescingQueue<T>>;
  latest: T | undefined;
  has: boolean;
}

type FeatureValueJson = Omit<FeatureValue, 'asOf' | 'lastEventAt'> & { asOf: string; lastEventAt: string | null };
type FeatureVectorJson = Omit<FeatureVector, 'updatedAt'> & { updatedAt: string };

const FEATURE_UPDATED =
  'subscription($name: String!, $entity: String!, $window: String!) { featureUpdated(name: $name, entity: $entity, window: $window) { name entity window value asOf lastEventAt top { item count error } unlistedAtMost } }';
const VIEW_UPDATED = 'subscription($view: String!, $entity: String!) { viewUpdated(view: $view, entity: $entity) { view entity values updatedAt fieldTimes } }';
const GEO_MOVED = 'subscription($index: String!, $member: String!) { geoMoved(index: $index, member: $member) { index member lat lon reportedAt gone at } }';
const FEATURE_THRESHOLD =
  'subscription($name: String!, $window: String!, $above: Float, $below: Float) { featureThreshold(name: $name, window: $window, above: $above, below: $below) { name entity window value at direction threshold } }';
const GEOFENCE_EVENTS = 'subscription($index: String!, $fence: String) { geofenceEvents(index: $index, fence: $fence) { index fence member kind lat lon at } }';
const GEO_WITHIN =
  'subscription($index: String!, $lat: Float!, $lon: Float!, $radiusMeters: Float!) { geoWithin(index: $index, lat: $lat, lon: $lon, radiusMeters: $radiusMeters) { index member kind lat lon reportedAt gone at } }';
/** A peer's own top rows changed: only the fact is used (the rows are gathered). */
const LEADERBOARD_CHANGED = 'subscription($name: String!, $top: Int!, $period: String) { leaderboardChanged(name: $name, top: $top, period: $period) { member } }';

/** Wait before gathering a leaderboard's rows again while a partition is unavailable. */
const REGATHER_MS = 500;

type Json<T, K extends keyof T> = Omit<T, K> & { [P in K]: string };

/** Pumps `source` into `deliver` until stopped; returns the stop. */
function pump<T>(source: Pullable<T> & { return(): unknown }, deliver: (value: T) => void): () => void {
  let stopped = false;
  const consumer: Consumer<T> = {
    deliver: (value) => {
      if (stopped) return;
      deliver(value);
      source.pull(consumer);
    },
    end: () => {},
  };
  source.pull(consumer);
  return () => {
    stopped = true;
    void source.return();
  };
}

@Injectable()
export class ClusterLive implements OnApplicationShutdown {
  private readonly peers: PeerSubscriptions | undefined;
  private readonly followed = new Map<string, Followed<unknown>>();
  private readonly unions = new Set<PeerFanout>();
  private readonly channels = new Map<string, GatheredTop>();

  constructor(
    @Inject(ClusterState) private readonly state: ClusterState,
    @Inject(SETTINGS) private readonly settings: Settings,
    @Inject(FeatureLiveService) private readonly features: FeatureLiveService,
    @Inject(ViewLiveService) private readonly views: ViewLiveService,
    @Inject(GeoLiveService) private readonly geoLive: GeoLiveService,
    @Inject(GeoService) private readonly geo: GeoService,
    @Inject(LeaderboardService) private readonly leaderboards: LeaderboardService,
  ) {
    if (state.enabled && settings.cluster.secret !== undefined) this.peers = new PeerSubscriptions(settings.cluster.secret);
  }

  /** True in a cluster: entity subscriptions follow the entity's owner. */
  get enabled(): boolean {
    return this.peers !== undefined;
  }

  /** Entities followed, and how many from a peer (for tests and diagnostics). */
  sources(): string[] {
    return [...this.followed.values()].map((f) => f.follower?.source ?? 'none');
  }

  featureUpdated(name: string, entity: string, window: string): CoalescingQueue<FeatureValue> {
    void this.features.featureUpdated(name, entity, window).return(); // unknown names are refused here, at once
    return this.follow<FeatureValue>(`f\u0000${name}\u0000${entity}\u0000${window}`, false, {
      entity,
      local: () => this.features.featureUpdated(name, entity, window),
      query: FEATURE_UPDATED,
      variables: { name, entity, window },
      decode: (data) => {
        const v = (data as { featureUpdated: FeatureValueJson }).featureUpdated;
        return { ...v, asOf: new Date(v.asOf), lastEventAt: v.lastEventAt === null ? null : new Date(v.lastEventAt) };
      },
    });
  }

  viewUpdated(view: string, entity: string): CoalescingQueue<FeatureVector | null> {
    void this.views.viewUpdated(view, entity).return();
    return this.follow<FeatureVector | null>(`v\u0000${view}\u0000${entity}`, true, {
      entity,
      local: () => this.views.viewUpdated(view, entity),
      query: VIEW_UPDATED,
      variables: { view, entity },
      decode: (data) => {
        const v = (data as { viewUpdated: FeatureVectorJson | null }).viewUpdated;
        return v && { ...v, updatedAt: new Date(v.updatedAt) };
      },
    });
  }

  geoMoved(index: string, member: string): CoalescingQueue<GeoMove> {
    void this.geoLive.moved(index, member).return();
    return this.follow<GeoMove>(`g\u0000${index}\u0000${member}`, true, {
      entity: member,
      local: () => this.geoLive.moved(index, member),
      query: GEO_MOVED,
      variables: { index, member },
      decode: (data) => {
        const m = (data as { geoMoved: Json<GeoMove, 'reportedAt' | 'at'> }).geoMoved;
        return { ...m, reportedAt: new Date(m.reportedAt), at: new Date(m.at) };
      },
    });
  }

  /** True for a key of a partition this member serves now (assigned and restored): what its part of a whole-set stream holds. */
  readonly served = (key: string): boolean => this.state.serves(this.state.partitionOf(key));

  /** Crossings of every member's entities, each from its owner; coalesced per entity. */
  featureThreshold(name: string, window: string, threshold: Threshold): CoalescingQueue<ThresholdCrossing> {
    const local = this.features.featureThreshold(name, window, threshold, this.served); // unknown names are refused here, at once
    let close = () => {};
    const queue = new CoalescingQueue<ThresholdCrossing>(() => close());
    const offer = (c: ThresholdCrossing) => queue.offer(c.entity, () => c);
    close = this.union(local, FEATURE_THRESHOLD, { name, window, ...threshold }, offer, (data) => {
      const c = (data as { featureThreshold: Json<ThresholdCrossing, 'at'> }).featureThreshold;
      return { ...c, at: new Date(c.at) };
    });
    return queue;
  }

  /** Enter and exit events of every member's part of the index; none coalesced away. */
  geofenceEvents(index: string, fence: string | undefined): CoalescingQueue<GeofenceEvent> {
    const local = this.geo.fenceEvents(index, fence, this.served);
    let close = () => {};
    const queue = new CoalescingQueue<GeofenceEvent>(() => close(), MAX_PENDING_FENCE_EVENTS);
    close = this.union(local, GEOFENCE_EVENTS, fence === undefined ? { index } : { index, fence }, (e) => queue.push(e), (data) => {
      const e = (data as { geofenceEvents: Json<GeofenceEvent, 'at'> }).geofenceEvents;
      return { ...e, at: new Date(e.at) };
    });
    return queue;
  }

  /** Members of the circle from every member's part: each sends an `enter` for its members inside, then their changes. */
  geoWithin(index: string, lat: number, lon: number, radiusMeters: number): CoalescingQueue<GeoWithinEvent> {
    const local = this.geoLive.within(index, lat, lon, radiusMeters, this.served);
    let close = () => {};
    const subscriber = new WithinSubscriber(() => close());
    close = this.union(local, GEO_WITHIN, { index, lat, lon, radiusMeters }, (e) => subscriber.offer(e), (data) => {
      const e = (data as { geoWithin: Json<GeoWithinEvent, 'reportedAt' | 'at'> }).geoWithin;
      return { ...e, reportedAt: new Date(e.reportedAt), at: new Date(e.at) };
    });
    return subscriber.queue;
  }

  /** The gathered top rows now (once every partition answers), then each time they change. */
  leaderboardChanged(name: string, top: number, period: string): CoalescingQueue<LeaderboardEntry[]> {
    this.leaderboards.requireGatherable(name, period); // unknown names, bad periods and ties: first are refused here, at once
    const key = `l\u0000${name}\u0000${top}\u0000${period}`;
    let channel = this.channels.get(key);
    if (channel === undefined) {
      const created = new GatheredTop(name, top, period, this.leaderboards, 1000 / this.settings.limits.leaderboardMaxHz);
      const stopLocal = pump(this.leaderboards.changed(name, top, period), () => created.kick());
      const fanout = new PeerFanout(this.state, this.peers!, LEADERBOARD_CHANGED, { name, top, period }, () => created.kick(), () => created.kick());
      created.stops.push(stopLocal, () => fanout.close());
      this.channels.set(key, created);
      channel = created;
    }
    const ch = channel;
    const queue: CoalescingQueue<LeaderboardEntry[]> = new CoalescingQueue(() => {
      ch.queues.delete(queue);
      if (ch.queues.size === 0 && this.channels.get(key) === ch) {
        ch.close();
        this.channels.delete(key);
      }
    });
    ch.queues.add(queue);
    if (ch.rows !== undefined) {
      const first = ch.rows;
      queue.offer('top', () => first);
    }
    return queue;
  }

  /** This member's part of a whole-set stream, and every peer's, delivered to `offer` until the returned close. */
  private union<T>(local: Pullable<T> & { return(): unknown }, query: string, variables: Record<string, unknown>, offer: (value: T) => void, decode: (data: unknown) => T): () => void {
    const stopLocal = pump(local, offer);
    const fanout = new PeerFanout(this.state, this.peers!, query, variables, (data) => offer(decode(data)));
    this.unions.add(fanout);
    return () => {
      stopLocal();
      fanout.close();
      this.unions.delete(fanout);
    };
  }

  onApplicationShutdown(): void {
    for (const u of this.unions) u.close();
    this.unions.clear();
    for (const c of this.channels.values()) c.close();
    this.channels.clear();
    for (const f of this.followed.values()) f.follower?.close();
    this.followed.clear();
    this.peers?.close();
  }

  /** A subscriber's queue on the shared follower of `key`; `replay`: a new subscriber first gets the latest non-null value. */
  private follow<T>(key: string, replay: boolean, spec: FollowSpec<T>): CoalescingQueue<T> {
    let entry = this.followed.get(key) as Followed<T> | undefined;
    if (entry === undefined) {
      const created: Followed<T> = { follower: undefined, queues: new Set(), latest: undefined, has: false };
      const current = () => created.latest;
      created.follower = new Follower(spec, this.state, this.peers!, (value) => {
        created.latest = value;
        created.has = true;
        for (const q of created.queues) q.offer('v', current);
      });
      this.followed.set(key, created as Followed<unknown>);
      entry = created;
    }
    const shared = entry;
    const queue: CoalescingQueue<T> = new CoalescingQueue<T>(() => {
      shared.queues.delete(queue);
      if (shared.queues.size === 0 && this.followed.get(key) === (shared as Followed<unknown>)) {
        shared.follower?.close();
        this.followed.delete(key);
      }
    });
    shared.queues.add(queue);
    if (replay && shared.has && shared.latest !== null) queue.offer('v', () => shared.latest);
    return queue;
  }
}

/** The gathered top rows of one (board, top, period), shared by the local subscribers. */
class GatheredTop {
  readonly queues = new Set<CoalescingQueue<LeaderboardEntry[]>>();
  readonly stops: (() => void)[] = [];
  /** The rows sent last; undefined until a gather answered. */
  rows: LeaderboardEntry[] | undefined;
  private running = false;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private lastRun = 0;
  private closed = false;

  constructor(
    private readonly name: string,
    private readonly top: number,
    private readonly period: string,
    private readonly leaderboards: LeaderboardService,
    private readonly minIntervalMs: number,
  ) {
    this.kick();
  }

  /** Something may have changed: gather again, within the rate limit (one gather at a time). */
  kick(): void {
    if (this.closed) return;
    if (this.running) {
      this.again = true;
      return;
    }
    if (this.timer !== undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.run();
    }, Math.max(0, this.lastRun + this.minIntervalMs - Date.now()));
    this.timer.unref();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    for (const stop of this.stops) stop();
  }

  private async run(): Promise<void> {
    this.running = true;
    this.again = false;
    this.lastRun = Date.now();
    let failed = false;
    try {
      const rows = (await this.leaderboards.gatheredTop(this.name, 0, this.top, this.period)).map(toLeaderboardEntryModel);
      const prev = this.rows;
      const same = prev !== undefined && rows.length === prev.length && rows.every((r, i) => r.member === prev[i].member && r.score === prev[i].score && r.updatedAt?.getTime() === prev[i].updatedAt?.getTime());
      if (!same && !this.closed) {
        this.rows = rows;
        for (const q of this.queues) q.offer('top', () => rows);
      }
    } catch {
      // A partition unavailable (a member lost, a restore): nothing is sent until every partition answers.
      failed = true;
    } finally {
      this.running = false;
    }
    if (this.closed) return;
    if (this.again) this.kick();
    else if (failed && this.timer === undefined) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.kick();
      }, REGATHER_MS);
      this.timer.unref();
    }
  }
}
