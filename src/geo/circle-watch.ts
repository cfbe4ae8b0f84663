/*
 * CircleWatch: which moving members are inside which of a changing set of circles (the
 * circles live subscriptions watch), turning each position update into `enter`, `move` or
 * `exit` per circle, and each removal into exits.
 *
 * Unlike FenceSet, whose fences are fixed by the pipeline file, circles come and go with
 * subscriptions, and members are named by string (the change feed carries names, not the
 * index's ids). Containment is exactly GeoIndex.search's: haversine(centre, stored position)
 * <= radius, the same operations in the same order, so a circle's members are the members a
 * radius search around its centre returns at that moment.
 *
 * Cost per update: one pass over the circle slots, each rejected by a latitude band and a
 * longitude half-width (typed arrays, a few comparisons) unless the point is near it, then
 * one haversine. Subscriptions of the same circle share one slot, so the slots are the
 * distinct circles watched, normally a handful per index; if that grows to thousands, filing
 * circles in a grid as FenceSet files fences is the next step. A member inside no circle costs
 * one Map lookup besides the pass; an update that changes no membership allocates nothing.
 *
 * Invariants: `inside.get(m)` lists, ascending and without repeats, exactly the live circles
 * whose member set holds m (absent when none); a circle's member set holds exactly the members
 * whose last position given (add's points or update) lies inside it, among those not removed
 * by leave().
 */
import { capLonHalfWidthDegrees, haversine, metersToLatDegrees } from './distance.js';

/** What an update did to a member's membership of one circle. */
export type CircleChange = 'enter' | 'move' | 'exit';

/** A member's position as add() takes it. */
export interface CirclePoint {
  member: string;
  lat: number;
  lon: number;
}

/** Circle slots allocated up front; the arrays double past it. */
const INITIAL_SLOTS = 8;
/**
 * Relative and absolute widening of a circle's latitude band and longitude half-width, in
 * degrees: rounding in the bounds must never reject a point haversine accepts (as FenceSet).
 */
const BOUND_SLACK_RELATIVE = 1e-9;
const BOUND_SLACK_DEGREES = 1e-9;
const NO_CIRCLES: readonly number[] = Object.freeze([]);

export class CircleWatch {
  private lat = new Float64Array(INITIAL_SLOTS);
  private lon = new Float64Array(INITIAL_SLOTS);
  private radius = new Float64Array(INITIAL_SLOTS);
  private latMin = new Float64Array(INITIAL_SLOTS);
  private latMax = new Float64Array(INITIAL_SLOTS);
  /** Longitude half-width of the circle's bounding box; >= 180 when it spans every longitude. */
  private lonHalf = new Float64Array(INITIAL_SLOTS);
  private live = new Uint8Array(INITIAL_SLOTS);
  private sets: (Set<string> | undefined)[] = [];
  /** Slots below this have been used; free ones are reused first. */
  private high = 0;
  private readonly free: number[] = [];
  private count = 0;
  private readonly inside = new Map<string, readonly number[]>();
  private readonly scratch: number[] = [];

  /** Number of circles. */
  get size(): number {
    return this.count;
  }

  /**
   * Adds the circle of `radiusMeters` (>= 0) around (lat, lon) and returns its number (a slot,
   * reused after remove()). `points` are the members it may hold, at their current positions
   * (a superset of those inside, e.g. a radius search's answer): those inside become its
   * members, without events; a member left out counts as outside until its next update.
   */
  add(lat: number, lon: number, radiusMeters: number, points: Iterable<CirclePoint> = []): number {
    const c = this.free.length > 0 ? (this.free.pop() as number) : this.high++;
    if (c >= this.lat.length) this.grow();
    const dLat = metersToLatDegrees(radiusMeters);
    const dLon = capLonHalfWidthDegrees(lat, radiusMeters);
    this.lat[c] = lat;
    this.lon[c] = lon;
    this.radius[c] = radiusMeters;
    this.latMin[c] = lat - dLat * (1 + BOUND_SLACK_RELATIVE) - BOUND_SLACK_DEGREES;
    this.latMax[c] = lat + dLat * (1 + BOUND_SLACK_RELATIVE) + BOUND_SLACK_DEGREES;
    this.lonHalf[c] = Number.isFinite(dLon) ? dLon * (1 + BOUND_SLACK_RELATIVE) + BOUND_SLACK_DEGREES : 180;
    this.live[c] = 1;
    const set = new Set<string>();
    this.sets[c] = set;
    this.count++;
    for (const p of points) {
      if (set.has(p.member) || !this.contains(c, p.lat, p.lon)) continue;
      set.add(p.member);
      this.inside.set(p.member, withCircle(this.inside.get(p.member) ?? NO_CIRCLES, c));
    }
    return c;
  }

  /** Removes circle `c` (a number add() returned and not yet removed); its members are forgotten without events. */
  remove(c: number): void {
    if (this.live[c] !== 1) throw new RangeError(`circle ${c} is not live`);
    for (const m of this.sets[c] as Set<string>) {
      const rest = withoutCircle(this.inside.get(m) as readonly number[], c);
      if (rest.length === 0) this.inside.delete(m);
      else this.inside.set(m, rest);
    }
    this.live[c] = 0;
    this.sets[c] = undefined;
    this.free.push(c);
    this.count--;
  }

  /** The members inside live circle `c` (a live view: do not change it). */
  membersOf(c: number): ReadonlySet<string> {
    const set = this.sets[c];
    if (set === undefined) throw new RangeError(`circle ${c} is not live`);
    return set;
  }

  /** The live circles `member` is inside, ascending (empty when none). */
  circlesOf(member: string): readonly number[] {
    return this.inside.get(member) ?? NO_CIRCLES;
  }

  /** True when (lat, lon) lies inside live circle `c`: haversine(centre, point) <= radius. */
  contains(c: number, lat: number, lon: number): boolean {
    if (lat < this.latMin[c] || lat > this.latMax[c]) return false;
    const half = this.lonHalf[c];
    if (half < 180) {
      let d = lon - this.lon[c];
      if (d < 0) d = -d;
      if (d > 180) d = 360 - d;
      if (d > half) return false;
    }
    return haversine(this.lat[c], this.lon[c], lat, lon) <= this.radius[c];
  }

  /**
   * `member` is now at (lat, lon): calls onChange(circle, kind) for every circle it enters
   * (`enter`), stays inside (`move`) or leaves (`exit`), in circle order. onChange must not
   * change the watch.
   */
  update(member: string, lat: number, lon: number, onChange: (circle: number, kind: CircleChange) => void): void {
    const prev = this.inside.get(member) ?? NO_CIRCLES;
    const next = this.scratch;
    next.length = 0;
    let j = 0;
    let changed = false;
    const live = this.live;
    for (let c = 0; c < this.high; c++) {
      if (live[c] === 0) continue;
      const was = j < prev.length && prev[j] === c;
      if (was) j++;
      if (this.contains(c, lat, lon)) {
        next.push(c);
        if (!was) {
          (this.sets[c] as Set<string>).add(member);
          changed = true;
        }
        onChange(c, was ? 'move' : 'enter');
      } else if (was) {
        (this.sets[c] as Set<string>).delete(member);
        changed = true;
        onChange(c, 'exit');
      }
    }
    if (!changed) return;
    if (next.length === 0) this.inside.delete(member);
    else this.inside.set(member, next.slice());
  }

  /** `member` is gone (removed, expired): calls onChange(circle, 'exit') for every circle it was inside, in circle order. */
  leave(member: string, onChange: (circle: number, kind: CircleChange) => void): void {
    const prev = this.inside.get(member);
    if (prev === undefined) return;
    this.inside.delete(member);
    for (const c of prev) {
      (this.sets[c] as Set<string>).delete(member);
      onChange(c, 'exit');
    }
  }

  private grow(): void {
    const n = this.lat.length * 2;
    const f64 = (a: Float64Array<ArrayBuffer>): Float64Array<ArrayBuffer> => {
      const b = new Float64Array(n);
      b.set(a);
      return b;
    };
    this.lat = f64(this.lat);
    this.lon = f64(this.lon);
    this.radius = f64(this.radius);
    this.latMin = f64(this.latMin);
    this.latMax = f64(this.latMax);
    this.lonHalf = f64(this.lonHalf);
    const live = new Uint8Array(n);
    live.set(this.live);
    this.live = live;
  }
}

/** `list` (ascending) with `c` inserted in order. */
function withCircle(list: readonly number[], c: number): number[] {
  const out = list.slice();
  let i = out.length;
  while (i > 0 && out[i - 1] > c) i--;
  out.splice(i, 0, c);
  return out;
}

/** `list` without `c`. */
function withoutCircle(list: readonly number[], c: number): number[] {
  return list.filter((x) => x !== c);
}
