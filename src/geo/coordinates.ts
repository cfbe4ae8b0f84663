/*
 * Coordinates: the accepted range of a position, its validation, and the fixed-point form
 * in which the index stores it.
 *
 * The range is Redis's (geohash.h GEO_LAT_MIN/MAX, GEO_LONG_MIN/MAX): latitudes beyond
 * +/-85.05112878 cannot be Web-Mercator projected, and Redis refuses them in GEOADD, so
 * accepting the same range keeps Tally and a Redis cross-check on the same data. Bounds are
 * inclusive, as in Redis. Validation returns the reason instead of throwing so that ingest
 * can reject an event on its hot path without an exception; `assertPosition` throws it.
 *
 * Stored positions are fixed-point integers of 1e-7 degree (about 1.1 cm), the unit
 * OpenStreetMap stores coordinates in: two Int32 per point instead of two Float64, and every
 * reader (queries, fences, snapshots) sees the same rounded value. Invariant:
 * |fromFixed(toFixedLat(lat))| <= LAT_MAX, so a stored position always validates again.
 */

/** Largest accepted latitude, as Redis GEO_LAT_MAX (the Web Mercator limit). */
export const LAT_MAX = 85.05112878;
/** Smallest accepted latitude, as Redis GEO_LAT_MIN. */
export const LAT_MIN = -85.05112878;
/** Largest accepted longitude, as Redis GEO_LONG_MAX. */
export const LON_MAX = 180;
/** Smallest accepted longitude, as Redis GEO_LONG_MIN. */
export const LON_MIN = -180;

/** Fixed-point units per degree: 1e-7 degree is ~1.1 cm on the equator (OpenStreetMap's unit). */
export const FIXED_PER_DEGREE = 1e7;
/** LAT_MAX in fixed point, truncated toward zero so it stays inside the accepted range. */
const LAT_MAX_FIXED = Math.trunc(LAT_MAX * FIXED_PER_DEGREE);

/** Why `value` is not a usable coordinate named `name` in [min, max], or undefined if it is. */
function coordinateProblem(name: string, value: unknown, min: number, max: number): string | undefined {
  if (typeof value !== 'number') return `${name} must be a number, got ${value === null ? 'null' : typeof value}`;
  if (!Number.isFinite(value)) return `${name} ${value} is not a finite number`;
  if (value < min || value > max) return `${name} ${value} is out of range [${min}, ${max}]`;
  return undefined;
}

/** The reason (lat, lon) is not an acceptable position, or undefined when it is. Never throws. */
export function validatePosition(lat: unknown, lon: unknown): string | undefined {
  // The common case, two in-range numbers, costs four comparisons and no call.
  if (typeof lat === 'number' && typeof lon === 'number' && lat >= LAT_MIN && lat <= LAT_MAX && lon >= LON_MIN && lon <= LON_MAX) {
    return undefined;
  }
  return coordinateProblem('lat', lat, LAT_MIN, LAT_MAX) ?? coordinateProblem('lon', lon, LON_MIN, LON_MAX);
}

/** Throws an Error naming the problem when (lat, lon) is not an acceptable position. */
export function assertPosition(lat: unknown, lon: unknown): void {
  const problem = validatePosition(lat, lon);
  if (problem !== undefined) throw new Error(problem);
}

/** The reason `ts` is not a usable event time (finite epoch ms), or undefined. */
export function validateTime(ts: unknown, name = 'ts'): string | undefined {
  if (typeof ts !== 'number') return `${name} must be a number (epoch ms), got ${ts === null ? 'null' : typeof ts}`;
  if (!Number.isFinite(ts)) return `${name} ${ts} is not a finite number (epoch ms)`;
  return undefined;
}

/** Latitude in fixed point (1e-7 degree), rounded to nearest and kept within +/-LAT_MAX. */
export function toFixedLat(lat: number): number {
  const q = Math.round(lat * FIXED_PER_DEGREE) | 0; // | 0: within Int32, and -0 becomes 0 as in an Int32Array
  return q > LAT_MAX_FIXED ? LAT_MAX_FIXED : q < -LAT_MAX_FIXED ? -LAT_MAX_FIXED : q;
}

/** Longitude in fixed point (1e-7 degree), rounded to nearest; +/-180 are exact. */
export function toFixedLon(lon: number): number {
  return Math.round(lon * FIXED_PER_DEGREE) | 0;
}

/** Degrees of a fixed-point coordinate. Division (not multiplication by 1e-7) so that it is exact for k / 1e7 inputs. */
export function fromFixed(q: number): number {
  return q / FIXED_PER_DEGREE;
}

/** The position (lat, lon) becomes when stored: what position(), search() and fences see. */
export function storedLat(lat: number): number {
  return fromFixed(toFixedLat(lat));
}

/** See storedLat. */
export function storedLon(lon: number): number {
  return fromFixed(toFixedLon(lon));
}
