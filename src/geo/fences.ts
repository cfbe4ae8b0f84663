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
 * edge rounds identically in both rings). Invariant: inside.get(subject), when present, is
 * non-empty, sorted, and lists the fences containing the subject's last evaluated position.
 */
import { LON_MAX, LON_MIN, validatePosition } from './coordinates.js';
import { capLonHalfWidthDegrees, haversine, metersToLatDegrees } from './distance.js';

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

interface Fence {
  name: string;
  latMin: number;
  latMax: number;
  lonMin: number; // may be < -180 or > 180 for a circle near the antimeridian
  lonMax: number;
  circle?: { lat: number; lon: number; radiusMeters: number };
  ring?: Float64Array; // lat0, lon0, lat1, lon1, ...
}

interface Level {
  size: number; // cell side in degrees
  columns: number; // cells per row
  cells: Map<number, number[]>;
}

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
    const c = { ...def.circle };
    const dLat = metersToLatDegrees(c.radiusMeters);
    const dLon = capLonHalfWidthDegrees(c.lat, c.radiusMeters);
    const full = !Number.isFinite(dLon) || dLon >= 180;
    return {
      name: def.name,
      circle: c,
      latMin: Math.max(-90, c.lat - dLat),
      latMax: Math.min(90, c.lat + dLat),
      lonMin: full ? LON_MIN : c.lon - dLon,
      lonMax: full ? LON_MAX : c.lon + dLon,
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
  return { name: def.name, ring, latMin: Math.min(...lats), latMax: Math.max(...lats), lonMin: Math.min(...lons), lonMax: Math.max(...lons) };
}

export class FenceSet {
  private readonly fences: Fence[];
  private readonly byName = new Map<string, number>();
  private readonly levels: Level[] = [];
  private readonly inside = new Map<number, readonly number[]>();
  private readonly scratch: number[] = [];

  /** Compiles and indexes `defs`; throws an Error listing every problem by path. */
  constructor(defs: readonly FenceDef[] = []) {
    const problems = validateFences(defs);
    if (problems.length > 0) throw new Error(`invalid fences:\n${problems.join('\n')}`);
    this.fences = defs.map(compile);
    this.fences.forEach((f, i) => {
      this.byName.set(f.name, i);
      this.file(i, f);
    });
    this.levels.sort((a, b) => a.size - b.size);
  }

  /** Number of fences. */
  get size(): number {
    return this.fences.length;
  }

  /** Fence names in declaration order (a fence's number is its position here). */
  get names(): string[] {
    return this.fences.map((f) => f.name);
  }

  /** The number of the fence called `name`, or -1. */
  indexOf(name: string): number {
    return this.byName.get(name) ?? -1;
  }

  /** True when fence number `fence` contains (lat, lon). */
  contains(fence: number, lat: number, lon: number): boolean {
    const f = this.fences[fence];
    if (f.circle !== undefined) return pointInCircle(lat, lon, f.circle);
    if (lat < f.latMin || lat > f.latMax || lon < f.lonMin || lon > f.lonMax) return false;
    return pointInRing(lat, lon, f.ring as Float64Array);
  }

  /** Numbers of the fences containing (lat, lon), ascending; only fences filed near the point are tested. */
  containing(lat: number, lon: number): number[] {
    return [...this.collect(lat, lon)];
  }

  /** Numbers of the fences `subject` is inside, ascending (empty if none). */
  insideOf(subject: number): readonly number[] {
    return this.inside.get(subject) ?? NO_FENCES;
  }

  /**
   * Moves `subject` (a member id; `member` is its name for the events) to (lat, lon) at `ts`
   * and returns the fence events this causes, exits first; NO_FENCE_EVENTS when none.
   */
  update(subject: number, member: string, lat: number, lon: number, ts: number): readonly FenceEvent[] {
    const now = this.collect(lat, lon);
    const before = this.inside.get(subject) ?? NO_FENCES;
    if (sameList(before, now)) return NO_FENCE_EVENTS;
    const events: FenceEvent[] = [];
    for (const f of before) if (!now.includes(f)) events.push({ fence: this.fences[f].name, member, kind: 'exit', lat, lon, ts });
    for (const f of now) if (!before.includes(f)) events.push({ fence: this.fences[f].name, member, kind: 'enter', lat, lon, ts });
    if (now.length === 0) this.inside.delete(subject);
    else this.inside.set(subject, now.slice());
    return events;
  }

  /** Takes `subject` out of every fence (removal, expiry): one exit per fence it was inside, at (lat, lon, ts). */
  leave(subject: number, member: string, lat: number, lon: number, ts: number): readonly FenceEvent[] {
    const before = this.inside.get(subject);
    if (before === undefined) return NO_FENCE_EVENTS;
    this.inside.delete(subject);
    return before.map((f) => ({ fence: this.fences[f].name, member, kind: 'exit' as const, lat, lon, ts }));
  }

  /** Sets the fences `subject` is inside without events (restoring a snapshot); unknown fence numbers are ignored. */
  restoreInside(subject: number, fences: readonly number[]): void {
    const valid = [...new Set(fences)].filter((f) => Number.isInteger(f) && f >= 0 && f < this.fences.length).sort((a, b) => a - b);
    if (valid.length === 0) this.inside.delete(subject);
    else this.inside.set(subject, valid);
  }

  /** Fills the scratch list with the fences containing (lat, lon), ascending. */
  private collect(lat: number, lon: number): number[] {
    const out = this.scratch;
    out.length = 0;
    for (const level of this.levels) {
      const key = cellKey(level, lat, lon);
      const candidates = level.cells.get(key);
      if (candidates === undefined) continue;
      for (const f of candidates) if (this.contains(f, lat, lon)) out.push(f);
    }
    if (out.length > 1) out.sort((a, b) => a - b);
    return out;
  }

  /** Files fence i in every cell its bounding box touches, at the finest level where that is <= MAX_CELLS_PER_FENCE cells. */
  private file(i: number, f: Fence): void {
    let exp = MIN_LEVEL_EXP;
    for (; exp < MAX_LEVEL_EXP; exp++) {
      const size = 2 ** exp;
      if (spanCells(f.lonMin, f.lonMax, size, 180) * spanCells(f.latMin, f.latMax, size, 90) <= MAX_CELLS_PER_FENCE) break;
    }
    const size = 2 ** exp;
    let level = this.levels.find((l) => l.size === size);
    if (level === undefined) {
      level = { size, columns: Math.ceil(360 / size), cells: new Map() };
      this.levels.push(level);
    }
    const rows = Math.ceil(180 / size);
    const y0 = Math.max(0, Math.floor((f.latMin + 90) / size));
    const y1 = Math.min(rows - 1, Math.floor((f.latMax + 90) / size));
    const spanX = spanCells(f.lonMin, f.lonMax, size, 180);
    const x0 = Math.floor((f.lonMin + 180) / size);
    for (let y = y0; y <= y1; y++) {
      for (let k = 0; k < Math.min(spanX, level.columns); k++) {
        const x = (((x0 + k) % level.columns) + level.columns) % level.columns;
        const key = y * level.columns + x;
        const list = level.cells.get(key);
        if (list === undefined) level.cells.set(key, [i]);
        else list.push(i);
      }
    }
  }
}

/** Cells of side `size` degrees spanned by [min, max] on an axis whose values start at -offset. */
function spanCells(min: number, max: number, size: number, offset: number): number {
  return Math.floor((max + offset) / size) - Math.floor((min + offset) / size) + 1;
}

/** Key of the cell of `level` holding (lat, lon); a latitude of exactly 90 or longitude of 180 joins the last cell. */
function cellKey(level: Level, lat: number, lon: number): number {
  const size = level.size;
  const rows = Math.ceil(180 / size);
  let y = Math.floor((lat + 90) / size);
  if (y >= rows) y = rows - 1;
  let x = Math.floor((lon + 180) / size);
  if (x >= level.columns) x = level.columns - 1;
  return y * level.columns + x;
}

function sameList(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

