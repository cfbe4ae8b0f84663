/*
 * The geo engine's public face: moving-point indexes with radius and k-nearest search,
 * member TTL, and static fences emitting enter/exit events. Other folders import from here
 * only. Plain TypeScript, no framework, no I/O; time is always a parameter (epoch ms).
 */
export {
  LAT_MAX,
  LAT_MIN,
  LON_MAX,
  LON_MIN,
  assertPosition,
  storedLat,
  storedLon,
  validatePosition,
  validateTime,
} from './coordinates.js';
export { EARTH_RADIUS_METERS, haversine } from './distance.js';
export { geohashCenter, geohashDecode, geohashEncode, type GeoHashArea } from './geohash.js';
export { DEFAULT_GRID_STEP, GeoIndex, type GeoHit, type GeoIndexOptions, type GeoPoint } from './geo-index.js';
export {
  FenceSet,
  NO_FENCE_EVENTS,
  pointInCircle,
  pointInRing,
  validateFences,
  type FenceDef,
  type FenceEvent,
} from './fences.js';
export { CircleWatch, type CircleChange, type CirclePoint } from './circle-watch.js';
export { GeoCollection, GeoStore, type GeoCollectionEvents, type GeoCollectionOptions, type GeoMemberState } from './geo-store.js';
