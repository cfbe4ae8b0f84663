/*
 * Geohash cells, as Redis computes them (src/geohash.c): the world's longitude range
 * [-180, 180] and latitude range [LAT_MIN, LAT_MAX] are each cut into 2^step equal slices;
 * a position's cell at `step` is the pair (x, y) of slice numbers, and its geohash the
 * interleaving of their bits, latitude in the even bits and longitude in the odd ones
 * (geohash.c interleave64(lat_offset, long_offset)). At step 26 that is the 52-bit score
 * Redis stores for a GEOADD member, which the Redis cross-check uses to reason about
 * Redis's quantised positions.
 *
 * The grid of the point index (grid.ts) is the geohash grid at one step: cell (x, y) holds
 * the points whose slice numbers are x and y. Invariants: 0 <= x, y < 2^step for every
 * accepted position (the upper bound is clamped to the last slice; Redis lets
 * latitude == LAT_MAX overflow into bit `step`), and the slice of a coordinate is
 * floor(offset * 2^step) exactly as geohashEncode truncates it.
 *
 * JavaScript bit operators are 32-bit, so the 64-bit interleave of Redis is done on 16-bit
 * halves with the same magic masks (Bit Twiddling Hacks, "Interleave bits by Binary Magic
 * Numbers") and reassembled as a double, exact below 2^53.
 */
import { LAT_MAX, LAT_MIN, LON_MAX, LON_MIN } from './coordinates.js';

/** Bits per axis of a full-precision geohash: 26 + 26 = 52 fit a double's mantissa (Redis GEO_STEP_MAX). */
export const GEOHASH_MAX_STEP = 26;

const LAT_SPAN = LAT_MAX - LAT_MIN;
const LON_SPAN = LON_MAX - LON_MIN;
/** 2^32, to combine two 32-bit halves into one exact double. */
const TWO_32 = 4294967296;

/** A geohash cell's bounds in degrees: [latMin, latMax) x [lonMin, lonMax). */
export interface GeoHashArea {
  latMin: number;
  latMax: number;
  lonMin: number;
  lonMax: number;
}

/** The latitude slice (y) of `lat` at `step`: floor((lat - LAT_MIN) / span * 2^step), clamped to [0, 2^step). */
export function latSlice(lat: number, step: number): number {
  const n = 2 ** step;
  const y = Math.floor(((lat - LAT_MIN) / LAT_SPAN) * n);
  return y < 0 ? 0 : y >= n ? n - 1 : y;
}

/** The longitude slice (x) of `lon` at `step`: floor((lon + 180) / 360 * 2^step), clamped to [0, 2^step). */
export function lonSlice(lon: number, step: number): number {
  const n = 2 ** step;
  const x = Math.floor(((lon - LON_MIN) / LON_SPAN) * n);
  return x < 0 ? 0 : x >= n ? n - 1 : x;
}

/** Southern edge (degrees) of latitude slice y at `step`; y may lie outside [0, 2^step) for virtual cells. */
export function sliceLatMin(y: number, step: number): number {
  return LAT_MIN + (y * LAT_SPAN) / 2 ** step;
}

/** Western edge (degrees) of longitude slice x at `step`. */
export function sliceLonMin(x: number, step: number): number {
  return LON_MIN + (x * LON_SPAN) / 2 ** step;
}

/** Spreads the low 16 bits of v into the even bits of a 32-bit word (geohash.c interleave64, one half). */
function spread16(v: number): number {
  v &= 0xffff;
  v = (v | (v << 8)) & 0x00ff00ff;
  v = (v | (v << 4)) & 0x0f0f0f0f;
  v = (v | (v << 2)) & 0x33333333;
  v = (v | (v << 1)) & 0x55555555;
  return v >>> 0;
}

/** Gathers the even bits of a 32-bit word into 16 bits (geohash.c deinterleave64, one half). */
function squash16(v: number): number {
  v &= 0x55555555;
  v = (v | (v >>> 1)) & 0x33333333;
  v = (v | (v >>> 2)) & 0x0f0f0f0f;
  v = (v | (v >>> 4)) & 0x00ff00ff;
  v = (v | (v >>> 8)) & 0x0000ffff;
  return v;
}

/** Interleaves x (even bits) and y (odd bits), each < 2^26, into one number < 2^52. */
export function interleave(x: number, y: number): number {
  const lo = (spread16(x) | (spread16(y) << 1)) >>> 0;
  const hi = (spread16(x >>> 16) | (spread16(y >>> 16) << 1)) >>> 0;
  return hi * TWO_32 + lo;
}

/** Inverse of interleave: [x, y] from the even and odd bits of `bits` (< 2^52). */
export function deinterleave(bits: number): [number, number] {
  const lo = bits % TWO_32;
  const hi = Math.floor(bits / TWO_32);
  const x = squash16(lo) | (squash16(hi) << 16);
  const y = squash16(lo >>> 1) | (squash16(hi >>> 1) << 16);
  return [x >>> 0, y >>> 0];
}

/** Geohash of (lat, lon) at `step` bits per axis (default 26: Redis's 52-bit GEOADD score). */
export function geohashEncode(lat: number, lon: number, step = GEOHASH_MAX_STEP): number {
  return interleave(latSlice(lat, step), lonSlice(lon, step));
}

/** The cell a geohash of `step` bits per axis denotes (geohash.c geohashDecode). */
export function geohashDecode(bits: number, step = GEOHASH_MAX_STEP): GeoHashArea {
  const [y, x] = deinterleave(bits);
  return {
    latMin: sliceLatMin(y, step),
    latMax: sliceLatMin(y + 1, step),
    lonMin: sliceLonMin(x, step),
    lonMax: sliceLonMin(x + 1, step),
  };
}

/** The centre of a geohash cell: the position Redis reports (GEOPOS) for a member stored under it. */
export function geohashCenter(bits: number, step = GEOHASH_MAX_STEP): { lat: number; lon: number } {
  const a = geohashDecode(bits, step);
  return { lat: (a.latMin + a.latMax) / 2, lon: (a.lonMin + a.lonMax) / 2 };
}
