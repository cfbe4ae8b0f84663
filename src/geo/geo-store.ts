/*
 * GeoCollection: one named geo index of the pipeline file (`geo:` entry) — a GeoIndex of
 * moving members plus its FenceSet — and GeoStore, the collections by name.
 *
 * The collection is the only writer of both parts, which keeps them consistent: a fence
 * state exists only for a live member id, and every way a member leaves (remove, expiry)
 * first reports exits from the fences it was inside, then frees the id that the fence
 * state is keyed by. Fence events use the stored (fixed-point) position, the one
 * position() reports. Expiry exits carry ts = lastSeen + ttlMs (the moment the member
 * timed out, whatever the clock of the expire call) and the last known position, and one
 * expire() call orders them by (ts, member), so replaying the same events gives the same
 * event stream even when ids or buckets differ (e.g. after restoring a snapshot).
 *
 * Snapshots: entries() yields each member's position, last-seen time and the fences it is
 * inside; restore() takes them back without emitting events. Fence names unknown at
 * restore (a fence since removed from the pipeline) are dropped; a fence added since
 * fires `enter` on the member's next update.
 */
import { InputError } from '../input-error.js';
import { validatePosition, validateTime } from './coordinates.js';
import { FenceSet, NO_FENCE_EVENTS, type FenceDef, type FenceEvent } from './fences.js';
import { GeoIndex, type GeoHit, type GeoPoint } from './geo-index.js';

/** How a collection is declared: the `geo:` entry of the pipeline file, less its field mapping. */
export interface GeoCollectionOptions {
  name: string;
  /** A member not seen for ttlMs leaves the index (and its fences) at the next expire(now). */
  ttlMs?: number;
  fences?: readonly FenceDef[];
  /** Geohash bits per axis of the point grid (see GeoIndex). */
  gridStep?: number;
}

/** A member's state for snapshots: position, last-seen time and the fences it is inside (declaration order). */
export interface GeoMemberState extends GeoPoint {
  fences: string[];
}

/** Fence events of one collection. */
export interface GeoCollectionEvents {
  index: string;
  events: readonly FenceEvent[];
}

export class GeoCollection {
  readonly name: string;
  readonly ttlMs: number | undefined;
  private readonly index: GeoIndex;
  private readonly fences: FenceSet;

  /** An empty collection; throws on invalid options (every fence problem listed). */
  constructor(options: GeoCollectionOptions) {
    this.name = options.name;
    this.ttlMs = options.ttlMs;
    this.index = new GeoIndex({ ttlMs: options.ttlMs, gridStep: options.gridStep });
    this.fences = new FenceSet(options.fences ?? []);
  }

  /** Number of members. */
  get size(): number {
    return this.index.size;
  }

  /** Fence names in declaration order. */
  get fenceNames(): string[] {
    return this.fences.names;
  }

  /**
   * Upserts `member` at (lat, lon) seen at `ts` and returns the fence events it causes
   * (exits, then enters); none for a stale update (ts older than the member's last-seen).
   * Throws on invalid input; validatePosition() lets a caller reject without a throw.
   */
  set(member: string, lat: number, lon: number, ts: number): readonly FenceEvent[] {
    if (typeof member !== 'string') throw new Error(`member must be a string, got ${typeof member}`);
    const problem = validatePosition(lat, lon) ?? validateTime(ts);
    if (problem !== undefined) throw new Error(problem);
    const id = this.index.upsert(member, lat, lon, ts);
    if (id < 0 || this.fences.size === 0) return NO_FENCE_EVENTS;
    return this.fences.update(id, member, this.index.latOf(id), this.index.lonOf(id), ts);
  }

  /** Removes `member` at time `ts`, returning an exit for each fence it was inside; none if absent. */
  remove(member: string, ts: number): readonly FenceEvent[] {
    const problem = validateTime(ts);
    if (problem !== undefined) throw new Error(problem);
    const id = this.index.idOf(member);
    if (id < 0) return NO_FENCE_EVENTS;
    const events = this.fences.leave(id, member, this.index.latOf(id), this.index.lonOf(id), ts);
    this.index.remove(member);
    return events;
  }

  /**
   * Removes members last seen ttlMs or more before `now` and returns their exits, ordered
   * by (ts, member) with ts = lastSeen + ttlMs. A no-op without a TTL. `onExpired`, if given,
   * then sees every member removed, fenced or not, with its last position and the moment it
   * timed out (lastSeen + ttlMs), in the same order, once the index no longer holds it.
   */
  expire(now: number, onExpired?: (point: GeoPoint, at: number) => void): readonly FenceEvent[] {
    const ttl = this.ttlMs;
    if (ttl === undefined) return NO_FENCE_EVENTS;
    let events: FenceEvent[] | undefined;
    let gone: GeoPoint[] | undefined;
    this.index.expireIds(now, (id) => {
      const index = this.index;
      const left = this.fences.leave(id, index.nameOf(id), index.latOf(id), index.lonOf(id), index.lastSeenOf(id) + ttl);
      if (left.length > 0) (events ??= []).push(...left);
      if (onExpired !== undefined) (gone ??= []).push({ member: index.nameOf(id), lat: index.latOf(id), lon: index.lonOf(id), lastSeen: index.lastSeenOf(id) });
    });
    if (gone !== undefined) {
      gone.sort((a, b) => a.lastSeen - b.lastSeen || (a.member < b.member ? -1 : a.member > b.member ? 1 : 0));
      for (const p of gone) onExpired!(p, p.lastSeen + ttl);
    }
    if (events === undefined) return NO_FENCE_EVENTS;
    // Stable: a member's exits stay in fence order.
    return events.sort((a, b) => a.ts - b.ts || (a.member < b.member ? -1 : a.member > b.member ? 1 : 0));
  }

  /**
   * Removes the members `drop` selects without fence events (a partition handed to another
   * instance: the members did not leave, this instance stops holding them). Returns how many.
   */
  dropWhere(drop: (member: string) => boolean): number {
    const gone: string[] = [];
    for (const p of this.index.entries()) if (drop(p.member)) gone.push(p.member);
    for (const member of gone) {
      const id = this.index.idOf(member);
      this.fences.leave(id, member, this.index.latOf(id), this.index.lonOf(id), this.index.lastSeenOf(id));
      this.index.remove(member);
    }
    return gone.length;
  }

  /** Members within radiusMeters of (lat, lon), nearest first, at most `limit` (see GeoIndex.search). */
  search(lat: number, lon: number, radiusMeters: number, limit?: number): GeoHit[] {
    return this.index.search(lat, lon, radiusMeters, limit);
  }

  /** The k members nearest to (lat, lon), nearest first (see GeoIndex.nearest). */
  nearest(lat: number, lon: number, k: number): GeoHit[] {
    return this.index.nearest(lat, lon, k);
  }

  /** The stored position and last-seen time of `member`, or undefined. */
  position(member: string): GeoPoint | undefined {
    return this.index.position(member);
  }

  /** Great-circle metres between two members, or undefined if either is absent. */
  distance(memberA: string, memberB: string): number | undefined {
    return this.index.distance(memberA, memberB);
  }

  /** Names of the fences `member` is inside, in declaration order (empty if none or absent). */
  fencesOf(member: string): string[] {
    const id = this.index.idOf(member);
    if (id < 0) return [];
    return this.fences.insideOf(id).map((f) => this.fences.nameOf(f));
  }

  /** Every member's state, for a snapshot. */
  *entries(): IterableIterator<GeoMemberState> {
    for (const p of this.index.entries()) {
      const id = this.index.idOf(p.member);
      yield { ...p, fences: this.fences.insideOf(id).map((f) => this.fences.nameOf(f)) };
    }
  }

  /** Loads member states from a snapshot without emitting events; returns how many were applied. */
  restore(states: Iterable<GeoMemberState>): number {
    let applied = 0;
    for (const s of states) {
      if (!this.index.set(s.member, s.lat, s.lon, s.lastSeen)) continue;
      applied++;
      const id = this.index.idOf(s.member);
      this.fences.restoreInside(id, (s.fences ?? []).map((name) => this.fences.indexOf(name)));
    }
    return applied;
  }
}

export class GeoStore {
  private readonly collections = new Map<string, GeoCollection>();

  /** One collection per definition; throws on a duplicate name or invalid options. */
  constructor(definitions: readonly GeoCollectionOptions[] = []) {
    for (const d of definitions) {
      if (this.collections.has(d.name)) throw new Error(`geo index "${d.name}" is declared twice`);
      this.collections.set(d.name, new GeoCollection(d));
    }
  }

  /** Collection names in declaration order. */
  get names(): string[] {
    return [...this.collections.keys()];
  }

  /** The collection called `name`, or undefined. */
  get(name: string): GeoCollection | undefined {
    return this.collections.get(name);
  }

  /** The collection called `name`; throws `unknown geo index "name"` when there is none. */
  collection(name: string): GeoCollection {
    const c = this.collections.get(name);
    if (c === undefined) throw new InputError(`unknown geo index "${name}"`);
    return c;
  }

  /** Takes over the members of each collection of `other` (a store of the same pipeline), without fence events; returns how many. */
  absorb(other: GeoStore): number {
    let n = 0;
    for (const c of other) n += this.get(c.name)?.restore(c.entries()) ?? 0;
    return n;
  }

  /** GeoCollection.dropWhere on every collection; returns the total removed. */
  dropWhere(drop: (member: string) => boolean): number {
    let n = 0;
    for (const c of this.collections.values()) n += c.dropWhere(drop);
    return n;
  }

  /**
   * Runs expire(now) on every collection; returns the exits of those that have any.
   * `onExpired` sees every member removed, with its collection's name (see GeoCollection.expire).
   */
  expire(now: number, onExpired?: (index: string, point: GeoPoint, at: number) => void): GeoCollectionEvents[] {
    const out: GeoCollectionEvents[] = [];
    for (const c of this.collections.values()) {
      const events = c.expire(now, onExpired && ((p, at) => onExpired(c.name, p, at)));
      if (events.length > 0) out.push({ index: c.name, events });
    }
    return out;
  }

  [Symbol.iterator](): IterableIterator<GeoCollection> {
    return this.collections.values();
  }
}
