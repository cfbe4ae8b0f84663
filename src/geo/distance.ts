/*
 * Great-circle distances on a sphere of Redis's radius, so that Tally's distances can be
 * compared with Redis GEODIST / GEOSEARCH WITHDIST.
 *
 * `haversine` is Redis geohash_helper.c geohashGetDistance operation for operation (same
 * radius, same degree-to-radian constant, same shortcut when the longitudes are equal), so
 * on the same coordinates both give the same metres up to the last bits. It is symmetric
 * bit for bit: swapping the two points gives the identical double.
 *
 * `distanceToBox` is the exact distance from a point to a latitude/longitude rectangle
 * (a grid cell or a fence's bounding box): the grid search prunes and orders cells by it,
 * so it must never exceed the distance to any point inside the box. Argument for the
 * formula at the end of the file.
 */

/** Earth's quadratic mean radius in metres for WGS-84, Redis EARTH_RADIUS_IN_METERS. */
export const EARTH_RADIUS_METERS = 6372797.560856;
/** Degrees to radians, as Redis D_R (M_PI / 180). */
export const DEG_TO_RAD = Math.PI / 180;

/** Great-circle distance in metres between (lat1, lon1) and (lat2, lon2), degrees (Redis geohashGetDistance). */
export function haversine(lat1: number, lon1: number, lat2: number, lon2: number): number {
  const lon1r = lon1 * DEG_TO_RAD;
  const lon2r = lon2 * DEG_TO_RAD;
  const v = Math.sin((lon2r - lon1r) / 2);
  if (v === 0) return EARTH_RADIUS_METERS * Math.abs(lat2 * DEG_TO_RAD - lat1 * DEG_TO_RAD);
  const lat1r = lat1 * DEG_TO_RAD;
  const lat2r = lat2 * DEG_TO_RAD;
  const u = Math.sin((lat2r - lat1r) / 2);
  const a = u * u + Math.cos(lat1r) * Math.cos(lat2r) * v * v;
  return 2 * EARTH_RADIUS_METERS * Math.asin(Math.sqrt(a));
}

/** Degrees of latitude spanned by `meters` along a meridian. */
export function metersToLatDegrees(meters: number): number {
  return meters / EARTH_RADIUS_METERS / DEG_TO_RAD;
}

/**
 * Half-width in degrees of longitude of the cap of radius `meters` around latitude `lat`,
 * or Infinity when the cap reaches a pole (then it spans every longitude).
 */
export function capLonHalfWidthDegrees(lat: number, meters: number): number {
  const d = meters / EARTH_RADIUS_METERS;
  const phi = lat * DEG_TO_RAD;
  if (d >= Math.PI / 2 - Math.abs(phi)) return Infinity;
  // Tangent meridians of a spherical cap: sin(dLon) = sin(d) / cos(lat).
  return Math.asin(Math.min(1, Math.sin(d) / Math.cos(phi))) / DEG_TO_RAD;
}

/**
 * Exact great-circle distance in metres from (lat, lon) to the nearest point of the
 * rectangle [latMin, latMax] x [lonMin, lonMax] (degrees, lonMin <= lonMax, no wrap;
 * latitudes within [-90, 90]); 0 when the point is inside.
 */
export function distanceToBox(lat: number, lon: number, latMin: number, latMax: number, lonMin: number, lonMax: number): number {
  if (lon >= lonMin && lon <= lonMax) {
    // Same meridian: the nearest point is straight north or south (see end of file).
    if (lat < latMin) return (latMin - lat) * DEG_TO_RAD * EARTH_RADIUS_METERS;
    if (lat > latMax) return (lat - latMax) * DEG_TO_RAD * EARTH_RADIUS_METERS;
    return 0;
  }
  // Longitude gap to each edge going east / west, in [0, 360); the nearer edge holds the nearest point.
  const east = (((lonMin - lon) % 360) + 360) % 360;
  const west = (((lon - lonMax) % 360) + 360) % 360;
  const edge = east <= west ? lonMin : lonMax;
  const dLon = (east <= west ? east : west) * DEG_TO_RAD;
  const phi = lat * DEG_TO_RAD;
  const sinPhi = Math.sin(phi);
  const b = Math.cos(phi) * Math.cos(dLon);
  if (b > 0) {
    // Latitude of the point of the edge meridian nearest to (lat, lon).
    const foot = Math.atan2(sinPhi, b) / DEG_TO_RAD;
    if (foot >= latMin && foot <= latMax) {
      return Math.asin(Math.min(1, Math.cos(phi) * Math.sin(dLon))) * EARTH_RADIUS_METERS;
    }
  }
  return Math.min(haversine(lat, lon, latMin, edge), haversine(lat, lon, latMax, edge));
}

/*
 * Why distanceToBox is exact.
 *
 * For a target at a fixed latitude q, cos(d) = sin(lat) sin(q) + cos(lat) cos(q) cos(dLon)
 * decreases as |dLon| grows from 0 to 180 degrees. So when the point's longitude is inside
 * the box, the nearest box point has the same longitude and the distance is the latitude
 * gap along the meridian; otherwise it lies on the edge meridian with the smaller
 * longitude gap. Along that meridian, cos(d) = A sin(q) + B cos(q) with A = sin(lat) and
 * B = cos(lat) cos(dLon), i.e. C cos(q - foot) with foot = atan2(A, B): unimodal in q with
 * its peak at `foot`. If B > 0 the foot is a latitude in (-90, 90); when it lies within
 * [latMin, latMax] the distance is the cross-track distance to the meridian's great circle,
 * asin(cos(lat) sin(dLon)). Otherwise the peak is outside the segment and the nearest point
 * is one of its two ends.
 */
