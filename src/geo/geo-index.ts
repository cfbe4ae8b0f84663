/*
 * GeoIndex: moving points (members with frequent position upserts) with radius and
 * k-nearest queries by exact great-circle distance, and an optional member TTL.
 *
 * Layout: one 24-byte record per dense member id (StringInterner) holding the position as
 * fixed-point Int32 (1e-7 degree, coordinates.ts), two Int32 links threading the id into
 * the list of its grid cell, and the last-seen time as Float64, so that an update touches
 * one cache line of the index besides the name lookup. The grid is the geohash
 * grid at `gridStep` bits per axis (geohash.ts, as Redis geohash.c slices the world), with
 * only occupied cells stored (grid.ts). An update that stays in its cell writes three
 * numbers; one that changes cell also unlinks and relinks, O(1). Redis instead re-inserts
 * the member into a sorted set by 52-bit geohash (geo.c GEOADD is ZADD), O(log n).
 *
 * Queries walk cells outward from the query's cell in square rings, skipping every cell
 * whose exact distance lower bound (distance.ts distanceToBox) exceeds the radius or the
 * current k-th best, and stop after the first ring whose every cell is beyond that bound:
 * all cells outside a ring are reached from the query point only across the ring. With a
 * limit, a dense city answers from a handful of cells instead of every point in the
 * radius (Redis's GEOSEARCH COUNT still gathers and sorts the whole radius). When the
 * rings would visit more cells than are occupied (sparse data, huge radii), the search
 * switches to one pass over the occupied cells. Results are ordered by distance, then by
 * member (JavaScript string order), so equal distances are deterministic.
 *
 * Time is a parameter: set() takes the event time, expire(now) the current time. Updates
 * older than the member's last-seen time are stale and ignored (the newest event wins), so
 * replaying a log gives the same state. Invariants: for every live id, it is linked in the
 * cell of its stored position and queued once in the expiry queue (with a TTL); size ===
 * the number of live ids.
 */
import { InputError } from '../input-error.js';
import { fromFixed, toFixedLat, toFixedLon, validatePosition, validateTime } from './coordinates.js';
import { DEG_TO_RAD, EARTH_RADIUS_METERS, distanceToBox, haversine } from './distance.js';
import { ExpiryQueue } from './expiry-queue.js';
import { latSlice, lonSlice, sliceLatMin, sliceLonMin } from './geohash.js';
import { CellTable } from './grid.js';
import { StringInterner } from './interner.js';

/**
 * Default grid step: 17 bits per axis gives cells of 0.0027 deg of longitude by 0.0013 deg of
 * latitude (~230 m x 145 m at 40 deg N): a 1 km query touches a few dozen cells, and a car
 * at city speed changes cell about once every ten updates at one update per second.
 */
export const DEFAULT_GRID_STEP = 17;
/**
 * Grid steps accepted: below 4 a cell spans over 22 degrees of longitude and prunes nothing;
 * above 24 cells are ~2 m x 1 m, finer than GPS noise, and a 1 km query would walk ~10^6 cells.
 */
const MIN_GRID_STEP = 4;
const MAX_GRID_STEP = 24;
/** Ids allocated up front (24 KB of records); the record buffer then doubles. */
const INITIAL_CAPACITY = 1024;
/** End of a cell list. */
const NONE = -1;
/**
 * The record of id i: Int32 slots i * 6 + (REC_LAT, REC_LON, REC_PREV, REC_NEXT) for the
 * fixed-point position and the cell-list links, and Float64 slot i * 3 + REC_SEEN (bytes
 * 16-23) for the last-seen time. What an update reads and writes lies in one or two
 * adjacent cache lines, where five parallel arrays cost up to five misses at a million members.
 */
const REC_INT32S = 6;
const REC_FLOAT64S = 3;
const REC_LAT = 0;
const REC_LON = 1;
const REC_PREV = 2;
const REC_NEXT = 3;
const REC_SEEN = 2;
/** Heap scratch kept between searches: enough for any limit up to 4096 without reallocating. */
const HEAP_SCRATCH_KEPT = 4096;
/**
 * Metres subtracted from a cell's distance lower bound: a point's cell comes from one
 * rounding of its coordinates and the cell's edges from another, so a point may lie a few
 * 1e-14 degrees outside its cell's computed box; 1 mm covers that with room to spare.
 */
const CELL_BOUND_SLACK_METERS = 0.001;
/**
 * Ring cells examined per occupied cell before the search switches to scanning the occupied
 * cells: a ring cell costs a distance bound and a probe, about what the scan costs per
 * occupied cell, so once the rings have cost one scan the scan is the cheaper way to finish.
 */
const RING_CELLS_PER_OCCUPIED_CELL = 1;
/** Ring cells always allowed before that switch (a 9 x 9 neighbourhood). */
const MIN_RING_CELLS = 81;

export interface GeoIndexOptions {
  /** A member not seen for ttlMs (> 0) leaves the index at the next expire(now); absent: never. */
  ttlMs?: number;
  /** Geohash bits per axis of the grid, 4..24; default DEFAULT_GRID_STEP. */
  gridStep?: number;
}

/** A member's stored position and the newest event time seen for it. */
export interface GeoPoint {
  member: string;
  lat: number;
  lon: number;
  lastSeen: number;
}

/** A search result: a member, its stored position, its distance from the query point in metres and when it was reported. */
export interface GeoHit {
  member: string;
  lat: number;
  lon: number;
  distanceMeters: number;
  /** The member's last-seen time (epoch ms): the event time of the stored position. */
  lastSeen: number;
}

function checkQuery(lat: number, lon: number): void {
  const problem = validatePosition(lat, lon);
  if (problem !== undefined) throw new InputError(problem);
}

function checkCount(name: string, value: number): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw new InputError(`${name} ${String(value)} must be a non-negative integer`);
  }
}

export class GeoIndex {
  readonly ttlMs: number | undefined;
  readonly gridStep: number;
  private readonly names = new StringInterner();
  private readonly cells = new CellTable();
  private readonly queue: ExpiryQueue | undefined;
  private readonly slices: number;
  private capacity = INITIAL_CAPACITY;
  // One 24-byte record per id, seen through two views of the same buffer (layout at REC_*).
  private rec = new Int32Array(INITIAL_CAPACITY * REC_INT32S);
  private recF = new Float64Array(this.rec.buffer);
  // Scratch of the bounded max-heap of a search, reused so a query allocates only its results.
  private heapDist = new Float64Array(HEAP_SCRATCH_KEPT);
  private heapId = new Int32Array(HEAP_SCRATCH_KEPT);
  private heapSize = 0;

  /** An empty index; throws on an invalid ttlMs or gridStep. */
  constructor(options: GeoIndexOptions = {}) {
    const step = options.gridStep ?? DEFAULT_GRID_STEP;
    if (!Number.isInteger(step) || step < MIN_GRID_STEP || step > MAX_GRID_STEP) {
      throw new Error(`gridStep ${step} must be an integer in [${MIN_GRID_STEP}, ${MAX_GRID_STEP}]`);
    }
    this.gridStep = step;
    this.slices = 2 ** step;
    this.ttlMs = options.ttlMs;
    this.queue = options.ttlMs === undefined ? undefined : new ExpiryQueue(options.ttlMs, INITIAL_CAPACITY);
  }

  /** Number of members. */
  get size(): number {
    return this.names.size;
  }

  /**
   * Upserts `member` at (lat, lon), seen at `ts` (epoch ms). Returns false, changing nothing,
   * when ts is older than the member's last-seen time. Throws on invalid input.
   */
  set(member: string, lat: number, lon: number, ts: number): boolean {
    if (typeof member !== 'string') throw new Error(`member must be a string, got ${typeof member}`);
    const problem = validatePosition(lat, lon) ?? validateTime(ts);
    if (problem !== undefined) throw new Error(problem);
    return this.upsert(member, lat, lon, ts) >= 0;
  }

  /**
   * set() without validation, for callers that validated already: returns the member's id,
   * or -1 for a stale update. Preconditions: member is a string, (lat, lon) validates, ts is finite.
   */
  upsert(member: string, lat: number, lon: number, ts: number): number {
    const qlat = toFixedLat(lat);
    const qlon = toFixedLon(lon);
    let id = this.names.get(member);
    if (id < 0) {
      id = this.names.add(member);
      if (id >= this.capacity) this.grow(id + 1);
      const r = id * REC_INT32S;
      this.rec[r + REC_LAT] = qlat;
      this.rec[r + REC_LON] = qlon;
      this.recF[id * REC_FLOAT64S + REC_SEEN] = ts;
      this.link(id, lonSlice(fromFixed(qlon), this.gridStep), latSlice(fromFixed(qlat), this.gridStep));
      this.queue?.add(id, ts);
      return id;
    }
    const rec = this.rec;
    const r = id * REC_INT32S;
    const seenAt = id * REC_FLOAT64S + REC_SEEN;
    if (ts < this.recF[seenAt]) return -1;
    const oldLat = rec[r + REC_LAT];
    const oldLon = rec[r + REC_LON];
    if (oldLat !== qlat || oldLon !== qlon) {
      const step = this.gridStep;
      const ox = lonSlice(fromFixed(oldLon), step);
      const oy = latSlice(fromFixed(oldLat), step);
      const nx = lonSlice(fromFixed(qlon), step);
      const ny = latSlice(fromFixed(qlat), step);
      if (ox !== nx || oy !== ny) {
        this.unlink(id, ox, oy);
        this.link(id, nx, ny);
      }
      rec[r + REC_LAT] = qlat;
      rec[r + REC_LON] = qlon;
    }
    this.recF[seenAt] = ts;
    return id;
  }

  /** Removes `member`; returns false when it was absent. */
  remove(member: string): boolean {
    const id = this.names.get(member);
    if (id < 0) return false;
    this.queue?.delete(id);
    this.drop(id);
    return true;
  }

  /**
   * Removes every member last seen ttlMs or more before `now` (no-op without a TTL) and
   * returns how many. onExpired, if given, sees each one before it goes.
   */
  expire(now: number, onExpired?: (point: GeoPoint) => void): number {
    if (onExpired === undefined) return this.expireIds(now);
    return this.expireIds(now, (id) => onExpired(this.pointOf(id)));
  }

  /**
   * expire() reporting ids: onExpired(id) runs while the member is still readable (nameOf,
   * latOf, lonOf, lastSeenOf) and must not modify the index; the id is freed after it.
   */
  expireIds(now: number, onExpired?: (id: number) => void): number {
    const queue = this.queue;
    if (queue === undefined) return 0;
    const problem = validateTime(now, 'now');
    if (problem !== undefined) throw new Error(problem);
    return queue.expire(now, (id) => this.recF[id * REC_FLOAT64S + REC_SEEN], (id) => {
      onExpired?.(id);
      this.drop(id);
    });
  }

  /** The stored position and last-seen time of `member`, or undefined. */
  position(member: string): GeoPoint | undefined {
    const id = this.names.get(member);
    return id < 0 ? undefined : this.pointOf(id);
  }

  /** Great-circle distance in metres between two members, or undefined if either is absent. */
  distance(memberA: string, memberB: string): number | undefined {
    const a = this.names.get(memberA);
    const b = this.names.get(memberB);
    if (a < 0 || b < 0) return undefined;
    return haversine(this.latOf(a), this.lonOf(a), this.latOf(b), this.lonOf(b));
  }

  /**
   * Members within `radiusMeters` (inclusive) of (lat, lon), nearest first (ties by member),
   * at most `limit` of them (default: all). Throws on an invalid position, radius or limit.
   */
  search(lat: number, lon: number, radiusMeters: number, limit?: number): GeoHit[] {
    checkQuery(lat, lon);
    if (typeof radiusMeters !== 'number' || !(radiusMeters >= 0)) {
      throw new InputError(`radiusMeters ${String(radiusMeters)} must be a number >= 0`);
    }
    if (limit !== undefined) checkCount('limit', limit);
    return this.query(lat, lon, radiusMeters, limit === undefined ? this.size : Math.min(limit, this.size));
  }

  /** The k members nearest to (lat, lon), nearest first (ties by member). Throws on invalid input. */
  nearest(lat: number, lon: number, k: number): GeoHit[] {
    checkQuery(lat, lon);
    checkCount('k', k);
    return this.query(lat, lon, Infinity, Math.min(k, this.size));
  }

  /** Every member with its position and last-seen time, in id order (for snapshots). */
  *entries(): IterableIterator<GeoPoint> {
    const high = this.names.highWater;
    for (let id = 0; id < high; id++) {
      if (this.names.nameOf(id) !== undefined) yield this.pointOf(id);
    }
  }

  /** Loads points (e.g. from entries() of a snapshot) as set() would; returns how many were applied. */
  restore(points: Iterable<GeoPoint>): number {
    let applied = 0;
    for (const p of points) if (this.set(p.member, p.lat, p.lon, p.lastSeen)) applied++;
    return applied;
  }

  /** The id of `member`, or -1; ids are reused after removal. */
  idOf(member: string): number {
    return this.names.get(member);
  }

  /** The member of a live id. */
  nameOf(id: number): string {
    return this.names.nameOf(id) as string;
  }

  /** Stored latitude of a live id, degrees. */
  latOf(id: number): number {
    return fromFixed(this.rec[id * REC_INT32S + REC_LAT]);
  }

  /** Stored longitude of a live id, degrees. */
  lonOf(id: number): number {
    return fromFixed(this.rec[id * REC_INT32S + REC_LON]);
  }

  /** Last-seen time of a live id, epoch ms. */
  lastSeenOf(id: number): number {
    return this.recF[id * REC_FLOAT64S + REC_SEEN];
  }

  /** Bytes held by the index's own arrays and tables, excluding the member strings. */
  bytes(): number {
    return this.rec.byteLength + this.names.bytes() + this.cells.bytes() + (this.queue?.bytes() ?? 0);
  }

  private pointOf(id: number): GeoPoint {
    return { member: this.nameOf(id), lat: this.latOf(id), lon: this.lonOf(id), lastSeen: this.lastSeenOf(id) };
  }

  private drop(id: number): void {
    const step = this.gridStep;
    this.unlink(id, lonSlice(this.lonOf(id), step), latSlice(this.latOf(id), step));
    this.names.delete(id);
  }

  private grow(minCapacity: number): void {
    let capacity = this.capacity * 2;
    while (capacity < minCapacity) capacity *= 2;
    const rec = new Int32Array(capacity * REC_INT32S);
    rec.set(this.rec);
    this.rec = rec;
    this.recF = new Float64Array(rec.buffer);
    this.queue?.grow(capacity);
    this.capacity = capacity;
  }

  private link(id: number, x: number, y: number): void {
    const head = this.cells.headOf(x, y);
    this.rec[id * REC_INT32S + REC_PREV] = NONE;
    this.rec[id * REC_INT32S + REC_NEXT] = head;
    if (head !== NONE) this.rec[head * REC_INT32S + REC_PREV] = id;
    this.cells.setHead(x, y, id);
  }

  private unlink(id: number, x: number, y: number): void {
    const rec = this.rec;
    const p = rec[id * REC_INT32S + REC_PREV];
    const n = rec[id * REC_INT32S + REC_NEXT];
    if (p !== NONE) {
      rec[p * REC_INT32S + REC_NEXT] = n;
    } else if (n === NONE) {
      this.cells.remove(x, y);
    } else {
      this.cells.setHead(x, y, n);
    }
    if (n !== NONE) rec[n * REC_INT32S + REC_PREV] = p;
  }

  /** The search proper: up to k hits within `radius` of a validated (lat, lon), sorted. */
  private query(lat: number, lon: number, radius: number, k: number): GeoHit[] {
    this.heapSize = 0;
    if (k === 0) return [];
    const step = this.gridStep;
    const slices = this.slices;
    const cx = lonSlice(lon, step);
    const cy = latSlice(lat, step);
    const budget = Math.max(MIN_RING_CELLS, this.cells.size * RING_CELLS_PER_OCCUPIED_CELL);
    let examined = 0;
    let scanned = 0;
    let done = -1; // rings 0..done are complete
    for (let r = 0; 2 * r + 1 < slices; r++) {
      let ringMin = Infinity;
      const visit = (x: number, y: number): void => {
        const xw = x < 0 ? x + slices : x >= slices ? x - slices : x;
        const lb = this.cellLowerBound(lat, lon, xw, y);
        if (lb < ringMin) ringMin = lb;
        examined++;
        if (y < 0 || y >= slices || lb > this.bound(radius, k)) return;
        const head = this.cells.headOf(xw, y);
        if (head !== NONE) scanned += this.scan(head, lat, lon, radius, k);
      };
      if (r === 0) {
        visit(cx, cy);
      } else {
        for (let x = cx - r; x <= cx + r; x++) {
          visit(x, cy - r);
          visit(x, cy + r);
        }
        for (let y = cy - r + 1; y <= cy + r - 1; y++) {
          visit(cx - r, y);
          visit(cx + r, y);
        }
      }
      done = r;
      if (ringMin > this.bound(radius, k) || scanned >= this.size) return this.results();
      if (examined > budget) break;
    }
    this.scanOccupied(lat, lon, radius, k, cx, cy, done);
    return this.results();
  }

  /** Scans every occupied cell outside the rings 0..done around (cx, cy) that may hold a hit. */
  private scanOccupied(lat: number, lon: number, radius: number, k: number, cx: number, cy: number, done: number): void {
    const cells = this.cells;
    const slices = this.slices;
    for (let slot = 0; slot < cells.slotCount; slot++) {
      if (!cells.isOccupied(slot)) continue;
      const x = cells.xAt(slot);
      const y = cells.yAt(slot);
      const dx = (((x - cx) % slices) + slices) % slices;
      if (Math.abs(y - cy) <= done && (dx <= done || dx >= slices - done)) continue;
      if (this.cellLowerBound(lat, lon, x, y) > this.bound(radius, k)) continue;
      this.scan(cells.headAt(slot), lat, lon, radius, k);
    }
  }

  /** Largest distance a new hit may have: the radius, or the k-th best so far once k are held. */
  private bound(radius: number, k: number): number {
    return this.heapSize === k ? Math.min(radius, this.heapDist[0]) : radius;
  }

  /** A lower bound on the distance from (lat, lon) to any point of cell (x, y); y may be a virtual row beyond the poles. */
  private cellLowerBound(lat: number, lon: number, x: number, y: number): number {
    const step = this.gridStep;
    const latMin = Math.max(-90, Math.min(90, sliceLatMin(y, step)));
    const latMax = Math.max(-90, Math.min(90, sliceLatMin(y + 1, step)));
    const d = distanceToBox(lat, lon, latMin, latMax, sliceLonMin(x, step), sliceLonMin(x + 1, step));
    return d - CELL_BOUND_SLACK_METERS;
  }

  /**
   * Offers every point of the list starting at `head` to the heap; returns the list length.
   * The distance is haversine() inlined, operation for operation, with the query's terms hoisted.
   */
  private scan(head: number, lat: number, lon: number, radius: number, k: number): number {
    const lat1r = lat * DEG_TO_RAD;
    const lon1r = lon * DEG_TO_RAD;
    const cosLat1 = Math.cos(lat1r);
    let n = 0;
    const rec = this.rec;
    for (let id = head; id !== NONE; id = rec[id * REC_INT32S + REC_NEXT]) {
      n++;
      const plat = fromFixed(rec[id * REC_INT32S + REC_LAT]);
      const plon = fromFixed(rec[id * REC_INT32S + REC_LON]);
      const v = Math.sin((plon * DEG_TO_RAD - lon1r) / 2);
      let d: number;
      if (v === 0) {
        d = EARTH_RADIUS_METERS * Math.abs(plat * DEG_TO_RAD - lat1r);
      } else {
        const lat2r = plat * DEG_TO_RAD;
        const u = Math.sin((lat2r - lat1r) / 2);
        const a = u * u + cosLat1 * Math.cos(lat2r) * v * v;
        d = 2 * EARTH_RADIUS_METERS * Math.asin(Math.sqrt(a));
      }
      if (d <= radius) this.offer(d, id, k);
    }
    return n;
  }

  /** True when hit (da, a) sorts after hit (db, b): farther, or as far with a larger member. */
  private after(da: number, a: number, db: number, b: number): boolean {
    if (da !== db) return da > db;
    return (this.names.nameOf(a) as string) > (this.names.nameOf(b) as string);
  }

  /** Keeps the k best hits in a max-heap whose root is the worst kept. */
  private offer(d: number, id: number, k: number): void {
    const dist = this.heapDist;
    const ids = this.heapId;
    let i: number;
    if (this.heapSize < k) {
      if (this.heapSize === dist.length) return this.growHeap(d, id, k);
      i = this.heapSize++;
      while (i > 0) {
        const parent = (i - 1) >> 1;
        if (!this.after(d, id, dist[parent], ids[parent])) break;
        dist[i] = dist[parent];
        ids[i] = ids[parent];
        i = parent;
      }
    } else {
      if (!this.after(dist[0], ids[0], d, id)) return;
      i = 0;
      const size = this.heapSize;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= size) break;
        const r = l + 1;
        const c = r < size && this.after(dist[r], ids[r], dist[l], ids[l]) ? r : l;
        if (!this.after(dist[c], ids[c], d, id)) break;
        dist[i] = dist[c];
        ids[i] = ids[c];
        i = c;
      }
    }
    dist[i] = d;
    ids[i] = id;
  }

  /** Empties the heap into hits, nearest first. */
  private results(): GeoHit[] {
    const n = this.heapSize;
    const out = new Array<GeoHit>(n);
    const dist = this.heapDist;
    const ids = this.heapId;
    for (let last = n - 1; last >= 0; last--) {
      const id = ids[0];
      out[last] = { member: this.nameOf(id), lat: this.latOf(id), lon: this.lonOf(id), distanceMeters: dist[0], lastSeen: this.lastSeenOf(id) };
      // Pop the root: move the last element down from the root.
      const d = dist[last];
      const moving = ids[last];
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= last) break;
        const r = l + 1;
        const c = r < last && this.after(dist[r], ids[r], dist[l], ids[l]) ? r : l;
        if (!this.after(dist[c], ids[c], d, moving)) break;
        dist[i] = dist[c];
        ids[i] = ids[c];
        i = c;
      }
      dist[i] = d;
      ids[i] = moving;
    }
    this.heapSize = 0;
    // A query without a limit may have grown the scratch to its answer's size; do not keep that.
    if (this.heapDist.length > HEAP_SCRATCH_KEPT) {
      this.heapDist = new Float64Array(HEAP_SCRATCH_KEPT);
      this.heapId = new Int32Array(HEAP_SCRATCH_KEPT);
    }
    return out;
  }

  /** Doubles the heap's scratch arrays (it holds heapSize hits) and offers (d, id) again. */
  private growHeap(d: number, id: number, k: number): void {
    const n = Math.min(k, this.heapDist.length * 2);
    const dist = new Float64Array(n);
    const ids = new Int32Array(n);
    dist.set(this.heapDist);
    ids.set(this.heapId);
    this.heapDist = dist;
    this.heapId = ids;
    this.offer(d, id, k);
  }
}
