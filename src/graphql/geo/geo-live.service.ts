/**
 * Live geo feeds: `geoMoved` (one member's positions and removal) and `geoWithin` (members
 * entering, moving inside and leaving a circle).
 *
 * One change-feed listener per geo index with live subscriptions (an IndexFeed) routes each
 * position change: to the member's channel, if anyone follows that member (a Map lookup),
 * and through the index's CircleWatch, which holds one slot per distinct circle watched
 * (every subscription of the same index, centre and radius shares it, and the event object
 * made for it, so sharedSubscribe executes a document once per event for all of them).
 *
 * Ordering and coalescing. Membership is decided on every change, in the order changes are
 * applied, so no crossing is missed however fast a member moves. What a subscriber receives is
 * coalesced per member per tick (the latest wins) with one rule: the client's view of who is
 * inside must end right. A subscriber remembers, for each member with undelivered events,
 * whether the member was inside when the first of them happened (as the client last saw it);
 * when the client pulls, that is compared with the latest event: inside both times gives the
 * latest position as a `move` (even if it left and came back meanwhile), outside then and
 * inside now an `enter`, inside then and outside now the `exit`, outside both times nothing
 * (it came and went between two messages).
 *
 * Initial state: a new `geoWithin` subscriber first gets an `enter` for every member inside
 * the circle at that moment; a new `geoMoved` subscriber first gets the member's current
 * position when it has one. Bounds: a circle holding more than MAX_WITHIN_MEMBERS members
 * when subscribed is refused (use a smaller radius); a client that falls behind by more than
 * that many members loses messages, counted as dropped (tally_subscription_messages_*).
 */
import { Inject, Injectable } from '@nestjs/common';
import { geoTopic, type Change, type ChangeFeed } from '../../changes/change-feed.js';
import { CircleWatch, type CircleChange, type GeoCollection } from '../../geo/index.js';
import { InputError } from '../../input-error.js';
import { CHANGES } from '../../settings/tokens.js';
import { CoalescingQueue } from '../live/coalescing-queue.js';
import { GeoService } from './geo.service.js';
import { toGeoMoveModel, type GeoMove } from './models/geo-move.model.js';
import { toGeoWithinEventModel, type GeoWithinEvent } from './models/geo-within-event.model.js';

/**
 * Members a geoWithin circle may hold when subscribed, and members one subscriber may have
 * undelivered: as many as a geo query could return ten times over (MAX_GEO_RESULTS), enough
 * for a city map, while a circle around a whole fleet is refused rather than streamed.
 */
export const MAX_WITHIN_MEMBERS = 10_000;

type GeoChange = Extract<Change, { kind: 'geo' }>;

/** The followers of one member (geoMoved) and its latest change as a model. */
class MemberChannel {
  readonly queues = new Set<CoalescingQueue<GeoMove>>();
  private latest: GeoMove | undefined;
  private readonly current = (): GeoMove | undefined => this.latest;

  changed(change: GeoChange): void {
    this.latest = toGeoMoveModel(change);
    for (const q of this.queues) q.offer('m', this.current);
  }
}

/** One geoWithin subscriber: its queue, and the members with undelivered events (see header). */
export class WithinSubscriber {
  readonly queue: CoalescingQueue<GeoWithinEvent>;
  /** member -> [inside when its first undelivered event happened, its latest event] */
  private readonly pending = new Map<string, [boolean, GeoWithinEvent]>();

  /** `only`: events of the members it accepts (in a cluster, those of the partitions this member serves now). */
  constructor(
    onClose: () => void,
    private readonly only?: (member: string) => boolean,
  ) {
    this.queue = new CoalescingQueue<GeoWithinEvent>(onClose, MAX_WITHIN_MEMBERS);
  }

  offer(e: GeoWithinEvent): void {
    if (this.only !== undefined && !this.only(e.member)) return;
    const p = this.pending.get(e.member);
    if (p !== undefined) {
      p[1] = e;
      return;
    }
    const dropped = this.queue.dropped;
    this.pending.set(e.member, [e.kind !== 'enter', e]);
    this.queue.offer(e.member, () => this.take(e.member));
    if (this.queue.dropped !== dropped) this.pending.delete(e.member);
  }

  private take(member: string): GeoWithinEvent | undefined {
    const p = this.pending.get(member);
    if (p === undefined) return undefined;
    this.pending.delete(member);
    const [was, e] = p;
    const now = e.kind !== 'exit';
    if (was && now) return e.kind === 'move' ? e : { ...e, kind: 'move' };
    if (now) return e.kind === 'enter' ? e : { ...e, kind: 'enter' };
    return was ? e : undefined;
  }
}

/** The subscribers of one distinct circle of an index. */
class CircleChannel {
  readonly subscribers = new Set<WithinSubscriber>();

  constructor(
    readonly key: string,
    readonly circle: number,
  ) {}

  push(kind: CircleChange, change: GeoChange): void {
    const e = toGeoWithinEventModel(kind, change);
    for (const s of this.subscribers) s.offer(e);
  }
}

/** The live feeds of one geo index: its change-feed listener, member channels and circles. */
class IndexFeed {
  readonly members = new Map<string, MemberChannel>();
  readonly watch = new CircleWatch();
  readonly circles = new Map<string, CircleChannel>();
  private readonly byCircle: (CircleChannel | undefined)[] = [];
  unsubscribe = (): void => {};
  /** The change being routed through the watch (saves a closure per change). */
  private routing: GeoChange | undefined;
  private readonly emit = (circle: number, kind: CircleChange): void => this.byCircle[circle]!.push(kind, this.routing!);

  /** Routes one change (called synchronously by the change feed; reads no store). */
  readonly onChange = (change: Change): void => {
    if (change.kind !== 'geo') return;
    this.members.get(change.member)?.changed(change);
    if (this.watch.size === 0) return;
    this.routing = change;
    if (change.gone) this.watch.leave(change.member, this.emit);
    else this.watch.update(change.member, change.lat, change.lon, this.emit);
    this.routing = undefined;
  };

  addCircle(key: string, lat: number, lon: number, radiusMeters: number, collection: GeoCollection): CircleChannel {
    const inside = collection.search(lat, lon, radiusMeters, MAX_WITHIN_MEMBERS + 1);
    if (inside.length > MAX_WITHIN_MEMBERS) throw tooMany(collection.name, radiusMeters);
    const channel = new CircleChannel(key, this.watch.add(lat, lon, radiusMeters, inside));
    this.circles.set(key, channel);
    this.byCircle[channel.circle] = channel;
    return channel;
  }

  removeCircle(channel: CircleChannel): void {
    this.watch.remove(channel.circle);
    this.circles.delete(channel.key);
    this.byCircle[channel.circle] = undefined;
  }

  get idle(): boolean {
    return this.members.size === 0 && this.circles.size === 0;
  }
}

function tooMany(index: string, radiusMeters: number): InputError {
  return new InputError(`the circle of ${radiusMeters} m holds more than ${MAX_WITHIN_MEMBERS} members of geo index "${index}": a geoWithin subscription follows at most ${MAX_WITHIN_MEMBERS}; use a smaller radius`);
}

@Injectable()
export class GeoLiveService {
  private readonly feeds = new Map<string, IndexFeed>();

  constructor(
    @Inject(GeoService) private readonly geo: GeoService,
    @Inject(CHANGES) private readonly changes: ChangeFeed<Change>,
  ) {}

  /** The member's current position (if any), then each new one and its removal, coalesced per tick. */
  moved(index: string, member: string): CoalescingQueue<GeoMove> {
    const collection = this.geo.collection(index); // throws for an unknown index
    const feed = this.feed(index);
    let channel = feed.members.get(member);
    if (channel === undefined) {
      channel = new MemberChannel();
      feed.members.set(member, channel);
    }
    const ch = channel;
    const queue: CoalescingQueue<GeoMove> = new CoalescingQueue(() => {
      ch.queues.delete(queue);
      if (ch.queues.size === 0 && feed.members.get(member) === ch) feed.members.delete(member);
      this.release(index, feed);
    });
    ch.queues.add(queue);
    const p = collection.position(member);
    if (p !== undefined) {
      const first = toGeoMoveModel({ kind: 'geo', name: index, member, ts: p.lastSeen, lat: p.lat, lon: p.lon, reportedAt: p.lastSeen, gone: false });
      queue.offer('m', () => first);
    }
    return queue;
  }

  /** An `enter` for each member inside the circle now, then every enter, move and exit (see header). */
  within(index: string, lat: number, lon: number, radiusMeters: number, only?: (member: string) => boolean): CoalescingQueue<GeoWithinEvent> {
    const collection = this.geo.collection(index);
    const feed = this.feed(index);
    const key = `${lat}\u0000${lon}\u0000${radiusMeters}`;
    let channel: CircleChannel;
    try {
      channel = feed.circles.get(key) ?? feed.addCircle(key, lat, lon, radiusMeters, collection);
    } catch (err) {
      this.release(index, feed);
      throw err;
    }
    const members = feed.watch.membersOf(channel.circle);
    if (members.size > MAX_WITHIN_MEMBERS) {
      this.release(index, feed);
      throw tooMany(index, radiusMeters);
    }
    const ch = channel;
    const subscriber: WithinSubscriber = new WithinSubscriber(() => {
      ch.subscribers.delete(subscriber);
      if (ch.subscribers.size === 0 && feed.circles.get(key) === ch) feed.removeCircle(ch);
      this.release(index, feed);
    }, only);
    ch.subscribers.add(subscriber);
    for (const m of members) {
      const p = collection.position(m);
      if (p === undefined) continue;
      subscriber.offer(toGeoWithinEventModel('enter', { kind: 'geo', name: index, member: m, ts: p.lastSeen, lat: p.lat, lon: p.lon, reportedAt: p.lastSeen, gone: false }));
    }
    return subscriber.queue;
  }

  private feed(index: string): IndexFeed {
    let feed = this.feeds.get(index);
    if (feed === undefined) {
      feed = new IndexFeed();
      feed.unsubscribe = this.changes.subscribe(geoTopic(index), feed.onChange);
      this.feeds.set(index, feed);
    }
    return feed;
  }

  /** Drops the index's listener once nothing is followed there. */
  private release(index: string, feed: IndexFeed): void {
    if (!feed.idle || this.feeds.get(index) !== feed) return;
    feed.unsubscribe();
    this.feeds.delete(index);
  }
}
