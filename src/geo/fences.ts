/*
 * FenceSet: static geofences (circles and polygons) and, per tracked member, the set of
 * fences it is inside, turning each position update into `enter` / `exit` events.
 *
 * Detection follows Tile38 (internal/server/fence.go): an update is tested against every
 * fence it may touch and compared with the member's previous state; a change from outside
 * to inside is an `enter`, the reverse an `exit`. State is per member and updates are
 * evaluated one at a time in the order they are applied, each against the state the
 * previous one left, so a burst of positions for one member cannot lose an `enter`
 * between two positions (the symptom of Tile38 issue #522). Removal and expiry leave
 * every fence the member was inside. Within one update, exits come before enters, each in
 * fence declaration order.
 *
 * Finding the fences a point may touch must not cost O(fences): each fence is filed in a
 * grid of its own level, square cells of 2^e degrees with the smallest e for which its
 * bounding box covers at most MAX_CELLS_PER_FENCE cells, so a 2 km circle sits in 2 km
 * cells and a country in 256-degree ones. A point then looks up one cell per level in use
 * (a few Map gets) and tests only the fences filed there.
 *
 * Shapes: a circle contains the points whose great-circle distance (distance.ts haversine)
 * to its centre is <= its radius. A polygon is a ring of [lat, lon] vertices with straight
 * edges in the longitude/latitude plane (as GeoJSON and Tile38 draw them); it must not cross
 * the antimeridian (split such a fence in two). Containment is the crossing-number test of
 * PNPOLY (W. R. Franklin): a point exactly on an edge counts as inside iff the point an
 * infinitesimal step north-east of it is inside, so a rectangle holds its south and west
 * edges but not its north and east ones, and of two fences sharing an edge exactly one
 * holds a point on it (each crossing is computed from the edge's southern end, so a shared
 * edge rounds identically in both rings).
 *
 * Per-member state is two Int32 per member id (members are dense ids of the index), so
 * the common cases compare without touching other memory: first = f + 1 for the lowest
 * fence the member is inside (0: none); second = g + 1 for the next one (0: none), or
 * -(k + 1) when it is inside three or more, all listed in `multi[k]`. Invariant: the
 * fences a subject's state names are sorted, distinct, and are exactly the fences
 * containing its last evaluated position.
 */
import { LON_MAX, LON_MIN, validatePosition } from './coordinates.js';
import { DEG_TO_RAD, EARTH_RADIUS_METERS, capLonHalfWidthDegrees, haversine, metersToLatDegrees } from './distance.js';

const D = DEG_TO_RAD;
const R = EARTH_RADIUS_METERS;

/** A fence as declared in the pipeline file: a circle or a polygon of [lat, lon] vertices. */
export type FenceDef =
  | { name: string; circle: { lat: number; lon: number; radiusMeters: number } }
  | { name: string; polygon: readonly (readonly [number, number])[] };

/** One crossing of a fence boundary by a member. */
export interface FenceEvent {
  fence: string;
  member: string;
  kind: 'enter' | 'exit';
  lat: number;
  lon: number;
  ts: number;
}

/** Most cells a fence's bounding box may cover at its level: 4 x 4, so a fence is filed a handful of times. */
const MAX_CELLS_PER_FENCE = 16;
/** Finest fence cell, 2^-7 degree (~870 m): keeps cell keys below 2^30, V8's small integers, so Map lookups never box. */
const MIN_LEVEL_EXP = -7;
/** Coarsest fence cell, 2^8 degrees: two cells span every longitude. */
const MAX_LEVEL_EXP = 8;

/** The shared result of an update that changes nothing; never mutated. */
export const NO_FENCE_EVENTS: readonly FenceEvent[] = Object.freeze([]);
const NO_FENCES: readonly number[] = Object.freeze([]);
/** Numbers stored per circle in circleTerms. */
const CIRCLE_TERMS = 6;

/** A fence compiled for testing: its bounding box and its shape's precomputed terms. */
interface Fence {
  name: string;
  latMin: number;
  latMax: number;
  lonMin: number; // may be < -180 or > 180 for a circle near the antimeridian
  lonMax: number;
  /** Whether [lonMin, lonMax] lies within [-180, 180], so that the longitude test is valid. */
  lonBounded: boolean;
  /** Circle: centre in radians, cosine of its latitude, radius; haversine's `a` below aLow is inside, above aHigh outside. */
  circle?: { latR: number; lonR: number; cosLat: number; radiusMeters: number; aLow: number; aHigh: number };
  ring?: Float64Array; // lat0, lon0, lat1, lon1, ...
}

interface Level {
  size: number; // cell side in degrees, a power of two
  inverse: number; // 1 / size, exact
  rows: number;
  columns: number;
  cells: Map<number, number[]>;
}

/**
 * Relative guard band around haversine's `a` at the radius: outside it the comparison of
 * `a` decides containment exactly as comparing metres would (asin and sqrt are monotone and
 * accurate to a few ulps, far inside 1e-9); inside it the metres are computed.
 */
const A_GUARD = 1e-9;

/**
 * True when (lat, lon) is inside the polygon `ring` (flat [lat0, lon0, lat1, lon1, ...],
 * implicitly closed), by PNPOLY's crossing number; see the header for points on an edge.
 */
export function pointInRing(lat: number, lon: number, ring: ArrayLike<number>): boolean {
  let inside = false;
  const n = ring.length;
  for (let i = 0, j = n - 2; i < n; j = i, i += 2) {
    const yi = ring[i];
    const yj = ring[j];
    if (yi > lat !== yj > lat) {
      // From the edge's southern end, so that an edge shared by two rings rounds the same in both.
      const south = yi < yj ? i : j;
      const north = yi < yj ? j : i;
      const xs = ring[south + 1];
      const ys = ring[south];
      if (lon < ((ring[north + 1] - xs) * (lat - ys)) / (ring[north] - ys) + xs) inside = !inside;
    }
  }
  return inside;
}

/** True when (lat, lon) is within `radiusMeters` (inclusive) of the centre, by haversine. */
export function pointInCircle(lat: number, lon: number, circle: { lat: number; lon: number; radiusMeters: number }): boolean {
  return haversine(circle.lat, circle.lon, lat, lon) <= circle.radiusMeters;
}

/** Every problem of a list of fence definitions, each prefixed by its path (`fences[1].polygon[2]: ...`); empty if valid. */
export function validateFences(defs: unknown, path = 'fences'): string[] {
  if (!Array.isArray(defs)) return [`${path}: must be a list of fences`];
  const problems: string[] = [];
  const seen = new Set<string>();
  defs.forEach((def: unknown, i) => {
    const at = `${path}[${i}]`;
    if (typeof def !== 'object' || def === null) return void problems.push(`${at}: must be a mapping with name and circle or polygon`);
    const d = def as Record<string, unknown>;
    if (typeof d.name !== 'string' || d.name === '') problems.push(`${at}.name: must be a non-empty string`);
    else if (seen.has(d.name)) problems.push(`${at}.name: "${d.name}" is declared twice`);
    else seen.add(d.name);
    if ((d.circle === undefined) === (d.polygon === undefined)) return void problems.push(`${at}: must have exactly one of circle, polygon`);
    if (d.circle !== undefined) {
      const c = d.circle as Record<string, unknown>;
      if (typeof c !== 'object' || c === null) return void problems.push(`${at}.circle: must be a mapping { lat, lon, radiusMeters }`);
      const p = validatePosition(c.lat, c.lon);
      if (p !== undefined) problems.push(`${at}.circle: ${p}`);
      const r = c.radiusMeters;
      if (typeof r !== 'number' || !Number.isFinite(r) || r <= 0) problems.push(`${at}.circle.radiusMeters: must be a positive finite number, got ${String(r)}`);
      return;
    }
    const ring = d.polygon;
    if (!Array.isArray(ring)) return void problems.push(`${at}.polygon: must be a list of [lat, lon] vertices`);
    let bad = false;
    ring.forEach((v: unknown, k) => {
      if (!Array.isArray(v) || v.length !== 2) {
        bad = true;
        return void problems.push(`${at}.polygon[${k}]: must be a [lat, lon] pair`);
      }
      const p = validatePosition(v[0], v[1]);
      if (p !== undefined) {
        bad = true;
        problems.push(`${at}.polygon[${k}]: ${p}`);
      }
    });
    if (bad) return;
    const vertices = openRing(ring as [number, number][]);
    if (new Set(vertices.map(([a, b]) => `${a},${b}`)).size < 3) problems.push(`${at}.polygon: needs at least 3 distinct vertices`);
    const lons = vertices.map((v) => v[1]);
    const span = Math.max(...lons) - Math.min(...lons);
    if (span > 180) problems.push(`${at}.polygon: spans ${span} degrees of longitude; a polygon crossing the antimeridian must be split in two`);
  });
  return problems;
}

/** The ring without a closing vertex equal to the first. */
function openRing(ring: readonly (readonly [number, number])[]): [number, number][] {
  const v = ring.map(([a, b]) => [a, b] as [number, number]);
  if (v.length > 1 && v[0][0] === v[v.length - 1][0] && v[0][1] === v[v.length - 1][1]) v.pop();
  return v;
}

function compile(def: FenceDef): Fence {
  if ('circle' in def) {
    const c = def.circle;
    const dLat = metersToLatDegrees(c.radiusMeters);
    const dLon = capLonHalfWidthDegrees(c.lat, c.radiusMeters);
    const full = !Number.isFinite(dLon) || dLon >= 180;
    const lonMin = full ? LON_MIN : c.lon - dLon;
    const lonMax = full ? LON_MAX : c.lon + dLon;
    const half = c.radiusMeters / (2 * EARTH_RADIUS_METERS);
    // A radius of half the circumference or more covers the sphere: every `a` (<= 1) is inside.
    const aRadius = half >= Math.PI / 2 ? 2 : Math.sin(half) ** 2;
    return {
      name: def.name,
      // A hair wider than the cap, so that rounding in the bounds never rejects a point haversine accepts.
      latMin: Math.max(-90, c.lat - dLat * (1 + 1e-9) - 1e-9),
      latMax: Math.min(90, c.lat + dLat * (1 + 1e-9) + 1e-9),
      lonMin: full ? LON_MIN : lonMin - dLon * 1e-9 - 1e-9,
      lonMax: full ? LON_MAX : lonMax + dLon * 1e-9 + 1e-9,
      lonBounded: lonMin >= LON_MIN && lonMax <= LON_MAX,
      circle: {
        latR: c.lat * DEG_TO_RAD,
        lonR: c.lon * DEG_TO_RAD,
        cosLat: Math.cos(c.lat * DEG_TO_RAD),
        radiusMeters: c.radiusMeters,
        aLow: aRadius * (1 - A_GUARD),
        aHigh: aRadius * (1 + A_GUARD),
      },
    };
  }
  const vertices = openRing(def.polygon);
  const ring = new Float64Array(vertices.length * 2);
  vertices.forEach(([lat, lon], i) => {
    ring[2 * i] = lat;
    ring[2 * i + 1] = lon;
  });
  const lats = vertices.map((v) => v[0]);
  const lons = vertices.map((v) => v[1]);
  return { name: def.name, latMin: Math.min(...lats), latMax: Math.max(...lats), lonMin: Math.min(...lons), lonMax: Math.max(...lons), lonBounded: true, ring };
}

export class FenceSet {
  private readonly fenceNames: string[];
  private readonly byName = new Map<string, number>();
  // Struct of arrays by fence number: the candidate test reads only typed arrays.
  private readonly latMin: Float64Array;
  private readonly latMax: Float64Array;
  private readonly lonMin: Float64Array;
  private readonly lonMax: Float64Array;
  private readonly lonBounded: Uint8Array;
  private readonly isCircle: Uint8Array;
  private readonly circleTerms: Float64Array; // per fence: latR, lonR, cosLat, radiusMeters, aLow, aHigh
  private readonly rings: (Float64Array | undefined)[];
  private readonly levels: Level[] = [];
  private first = new Int32Array(1024);
  private second = new Int32Array(1024);
  private readonly multi: (readonly number[] | undefined)[] = [];
  private readonly freeMulti: number[] = [];
  private readonly scratch: number[] = [];

  /** Compiles and indexes `defs`; throws an Error listing every problem by path. */
  constructor(defs: readonly FenceDef[] = []) {
    const problems = validateFences(defs);
    if (problems.length > 0) throw new Error(`invalid fences:\n${problems.join('\n')}`);
    const fences = defs.map(compile);
    const n = fences.length;
    this.fenceNames = fences.map((f) => f.name);
    this.latMin = Float64Array.from(fences, (f) => f.latMin);
    this.latMax = Float64Array.from(fences, (f) => f.latMax);
    this.lonMin = Float64Array.from(fences, (f) => f.lonMin);
    this.lonMax = Float64Array.from(fences, (f) => f.lonMax);
    this.lonBounded = Uint8Array.from(fences, (f) => (f.lonBounded ? 1 : 0));
    this.isCircle = Uint8Array.from(fences, (f) => (f.circle ? 1 : 0));
    this.circleTerms = new Float64Array(n * CIRCLE_TERMS);
    this.rings = fences.map((f) => f.ring);
    fences.forEach((f, i) => {
      const c = f.circle;
      if (c !== undefined) this.circleTerms.set([c.latR, c.lonR, c.cosLat, c.radiusMeters, c.aLow, c.aHigh], i * CIRCLE_TERMS);
      this.byName.set(f.name, i);
      this.file(i, f);
    });
    this.levels.sort((a, b) => a.size - b.size);
  }

  /** Number of fences. */
  get size(): number {
    return this.fenceNames.length;
  }

  /** Fence names in declaration order (a fence's number is its position here). */
  get names(): string[] {
    return this.fenceNames.slice();
  }

  /** The name of fence number `fence`. */
  nameOf(fence: number): string {
    return this.fenceNames[fence];
  }

  /** The number of the fence called `name`, or -1. */
  indexOf(name: string): number {
    return this.byName.get(name) ?? -1;
  }

  /** True when fence number `fence` contains (lat, lon). */
  contains(fence: number, lat: number, lon: number): boolean {
    if (lat < this.latMin[fence] || lat > this.latMax[fence]) return false;
    if (this.lonBounded[fence] === 1 && (lon < this.lonMin[fence] || lon > this.lonMax[fence])) return false;
    if (this.isCircle[fence] === 0) return pointInRing(lat, lon, this.rings[fence] as Float64Array);
    // haversine(centre, point) <= radius, operation for operation, with the centre's terms hoisted.
    const t = this.circleTerms;
    const o = fence * CIRCLE_TERMS;
    const v = Math.sin((lon * D - t[o + 1]) / 2);
    if (v === 0) return R * Math.abs(lat * D - t[o]) <= t[o + 3];
    const lat2r = lat * D;
    const u = Math.sin((lat2r - t[o]) / 2);
    const a = u * u + t[o + 2] * Math.cos(lat2r) * v * v;
    if (a < t[o + 4]) return true;
    if (a > t[o + 5]) return false;
    return 2 * R * Math.asin(Math.sqrt(a)) <= t[o + 3];
  }

  /** Numbers of the fences containing (lat, lon), ascending; only fences filed near the point are tested. */
  containing(lat: number, lon: number): number[] {
    return [...this.collect(lat, lon)];
  }

  /** Numbers of the fences `subject` is inside, ascending (empty if none). */
  insideOf(subject: number): readonly number[] {
    if (subject >= this.first.length) return NO_FENCES;
    const a = this.first[subject];
    const b = this.second[subject];
    if (a === 0) return NO_FENCES;
    if (b === 0) return [a - 1];
    if (b > 0) return [a - 1, b - 1];
    return this.multi[-b - 1] as readonly number[];
  }

  /** True when `subject` is recorded inside exactly the sorted fences `now`. */
  private isInside(subject: number, now: readonly number[]): boolean {
    const n = now.length;
    if (subject >= this.first.length) return n === 0;
    const a = this.first[subject];
    if (n === 0) return a === 0;
    if (a !== now[0] + 1) return false;
    const b = this.second[subject];
    if (n === 1) return b === 0;
    if (n === 2) return b === now[1] + 1;
    return b < 0 && sameList(this.multi[-b - 1] as readonly number[], now);
  }

  /**
   * Moves `subject` (a member id, >= 0; `member` is its name for the events) to (lat, lon)
   * at `ts` and returns the fence events this causes, exits first; NO_FENCE_EVENTS when none.
   */
  update(subject: number, member: string, lat: number, lon: number, ts: number): readonly FenceEvent[] {
    const now = this.collect(lat, lon);
    if (this.isInside(subject, now)) return NO_FENCE_EVENTS;
    const before = this.insideOf(subject);
    const events: FenceEvent[] = [];
    for (const f of before) if (!now.includes(f)) events.push({ fence: this.fenceNames[f], member, kind: 'exit', lat, lon, ts });
    for (const f of now) if (!before.includes(f)) events.push({ fence: this.fenceNames[f], member, kind: 'enter', lat, lon, ts });
    this.setState(subject, now);
    return events;
  }

  /** Takes `subject` out of every fence (removal, expiry): one exit per fence it was inside, at (lat, lon, ts). */
  leave(subject: number, member: string, lat: number, lon: number, ts: number): readonly FenceEvent[] {
    const before = this.insideOf(subject);
    if (before.length === 0) return NO_FENCE_EVENTS;
    this.setState(subject, NO_FENCES);
    return before.map((f) => ({ fence: this.fenceNames[f], member, kind: 'exit' as const, lat, lon, ts }));
  }

  /** Sets the fences `subject` is inside without events (restoring a snapshot); unknown fence numbers are ignored. */
  restoreInside(subject: number, fences: readonly number[]): void {
    const valid = [...new Set(fences)].filter((f) => Number.isInteger(f) && f >= 0 && f < this.fenceNames.length).sort((a, b) => a - b);
    this.setState(subject, valid);
  }

  /** Records that `subject` is inside exactly the sorted fences `list` (copied). */
  private setState(subject: number, list: readonly number[]): void {
    if (subject >= this.first.length) {
      if (list.length === 0) return;
      let n = this.first.length * 2;
      while (n <= subject) n *= 2;
      const first = new Int32Array(n);
      first.set(this.first);
      this.first = first;
      const second = new Int32Array(n);
      second.set(this.second);
      this.second = second;
    }
    const old = this.second[subject];
    if (old < 0) {
      this.multi[-old - 1] = undefined;
      this.freeMulti.push(-old - 1);
    }
    this.first[subject] = list.length > 0 ? list[0] + 1 : 0;
    if (list.length <= 2) {
      this.second[subject] = list.length === 2 ? list[1] + 1 : 0;
    } else {
      const k = this.freeMulti.length > 0 ? (this.freeMulti.pop() as number) : this.multi.length;
      this.multi[k] = list.slice();
      this.second[subject] = -k - 1;
    }
  }

  /** Fills the scratch list with the fences containing (lat, lon), ascending. */
  private collect(lat: number, lon: number): number[] {
    const out = this.scratch;
    out.length = 0;
    const levels = this.levels;
    for (let l = 0; l < levels.length; l++) {
      const candidates = levels[l].cells.get(cellKey(levels[l], lat, lon));
      if (candidates === undefined) continue;
      for (let i = 0; i < candidates.length; i++) {
        const f = candidates[i];
        if (!this.contains(f, lat, lon)) continue;
        // Insertion keeps `out` sorted; it holds the few fences around one point.
        let j = out.length;
        out.push(f);
        while (j > 0 && out[j - 1] > f) {
          out[j] = out[j - 1];
          j--;
        }
        out[j] = f;
      }
    }
    return out;
  }

  /** Files fence i in every cell its bounding box touches, at the finest level where that is <= MAX_CELLS_PER_FENCE cells. */
  private file(i: number, f: Fence): void {
    // A circle across the antimeridian has a box beyond +/-180: file it as two boxes within.
    const lons: [number, number][] = [[Math.max(LON_MIN, f.lonMin), Math.min(LON_MAX, f.lonMax)]];
    if (f.lonMin < LON_MIN) lons.push([f.lonMin + 360, LON_MAX]);
    if (f.lonMax > LON_MAX) lons.push([LON_MIN, f.lonMax - 360]);
    let exp = MIN_LEVEL_EXP;
    for (; exp < MAX_LEVEL_EXP; exp++) {
      const size = 2 ** exp;
      const columns = lons.reduce((sum, [lo, hi]) => sum + spanCells(lo, hi, size, 180), 0);
      if (columns * spanCells(f.latMin, f.latMax, size, 90) <= MAX_CELLS_PER_FENCE) break;
    }
    const size = 2 ** exp;
    let level = this.levels.find((l) => l.size === size);
    if (level === undefined) {
      level = { size, inverse: 1 / size, rows: Math.ceil(180 / size), columns: Math.ceil(360 / size), cells: new Map() };
      this.levels.push(level);
    }
    const keys = new Set<number>();
    const y0 = cellRow(level, f.latMin);
    const y1 = cellRow(level, f.latMax);
    for (const [lo, hi] of lons) {
      const x0 = cellColumn(level, lo);
      const x1 = cellColumn(level, hi);
      for (let y = y0; y <= y1; y++) for (let x = x0; x <= x1; x++) keys.add(y * level.columns + x);
    }
    for (const key of keys) {
      const list = level.cells.get(key);
      if (list === undefined) level.cells.set(key, [i]);
      else list.push(i);
    }
  }
}

/** Cells of side `size` degrees spanned by [min, max] on an axis whose values start at -offset. */
function spanCells(min: number, max: number, size: number, offset: number): number {
  return Math.floor((max + offset) / size) - Math.floor((min + offset) / size) + 1;
}

/** Row of `level` holding latitude `lat`; 90 joins the last row. */
function cellRow(level: Level, lat: number): number {
  const y = Math.floor((lat + 90) * level.inverse);
  return y < 0 ? 0 : y >= level.rows ? level.rows - 1 : y;
}

/** Column of `level` holding longitude `lon` in [-180, 180]; 180 joins the last column. */
function cellColumn(level: Level, lon: number): number {
  const x = Math.floor((lon + 180) * level.inverse);
  return x < 0 ? 0 : x >= level.columns ? level.columns - 1 : x;
}

/** Key of the cell of `level` holding (lat, lon). */
function cellKey(level: Level, lat: number, lon: number): number {
  return cellRow(level, lat) * level.columns + cellColumn(level, lon);
}

function sameList(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

