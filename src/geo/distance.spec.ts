import fc from 'fast-check';
import { EARTH_RADIUS_METERS, capLonHalfWidthDegrees, distanceToBox, haversine, metersToLatDegrees } from './distance.js';
import { geohashCenter } from './geohash.js';

describe('haversine', () => {
  it('matches Redis GEODIST on the positions Redis stores', () => {
    // GEODIST Sicily Palermo Catania = 166274.1516 (redis-server 7, on its 52-bit positions)
    const p = geohashCenter(3479099956230698);
    const c = geohashCenter(3479447370796909);
    expect(haversine(p.lat, p.lon, c.lat, c.lon).toFixed(4)).toBe('166274.1516');
  });

  it('is symmetric bit for bit, zero on equal points, and a meridian arc on equal longitudes', () => {
    fc.assert(
      fc.property(fc.double({ min: -85, max: 85, noNaN: true }), fc.double({ min: -180, max: 180, noNaN: true }), fc.double({ min: -85, max: 85, noNaN: true }), fc.double({ min: -180, max: 180, noNaN: true }), (a, b, c, d) => {
        expect(haversine(a, b, c, d)).toBe(haversine(c, d, a, b));
        expect(haversine(a, b, a, b)).toBe(0);
        expect(haversine(a, b, c, b)).toBeCloseTo(Math.abs(a - c) * (Math.PI / 180) * EARTH_RADIUS_METERS, 6);
      }),
    );
    // A quarter of the equator.
    expect(haversine(0, 0, 0, 90)).toBeCloseTo((Math.PI / 2) * EARTH_RADIUS_METERS, 6);
  });
});

describe('distanceToBox', () => {
  const box = fc
    .record({ lat: fc.double({ min: -88, max: 88, noNaN: true }), lon: fc.double({ min: -179, max: 178, noNaN: true }), h: fc.double({ min: 0.0001, max: 2, noNaN: true }), w: fc.double({ min: 0.0001, max: 2, noNaN: true }) })
    .map(({ lat, lon, h, w }) => ({ latMin: lat, latMax: Math.min(90, lat + h), lonMin: lon, lonMax: Math.min(180, lon + w) }));
  const point = fc.record({
    lat: fc.double({ min: -89.9, max: 89.9, noNaN: true }),
    lon: fc.double({ min: -180, max: 180, noNaN: true }),
  });

  it('never exceeds, and is attained by, the distance to a dense sample of the box', () => {
    fc.assert(
      fc.property(box, point, fc.boolean(), (b, p0, near) => {
        // Half the cases put the point near the box, where the bound matters.
        const p = near ? { lat: Math.max(-89.9, Math.min(89.9, (b.latMin + b.latMax) / 2 + (p0.lat % 3))), lon: Math.max(-180, Math.min(180, b.lonMin + (p0.lon % 4))) } : p0;
        const lb = distanceToBox(p.lat, p.lon, b.latMin, b.latMax, b.lonMin, b.lonMax);
        let min = Infinity;
        const n = 40;
        for (let i = 0; i <= n; i++) {
          for (let j = 0; j <= n; j++) {
            const lat = b.latMin + ((b.latMax - b.latMin) * i) / n;
            const lon = b.lonMin + ((b.lonMax - b.lonMin) * j) / n;
            min = Math.min(min, haversine(p.lat, p.lon, lat, lon));
          }
        }
        expect(lb).toBeLessThanOrEqual(min + 1e-6);
        // The sample's spacing bounds how far the sampled minimum can be above the true one.
        const spacing = haversine(b.latMin, b.lonMin, b.latMin + (b.latMax - b.latMin) / n, b.lonMin + (b.lonMax - b.lonMin) / n);
        expect(min - lb).toBeLessThanOrEqual(spacing + 1e-6);
      }),
      { numRuns: 300 },
    );
  });

  it('is zero inside and the meridian gap straight north or south', () => {
    expect(distanceToBox(10, 10, 9, 11, 9, 11)).toBe(0);
    expect(distanceToBox(12, 10, 9, 11, 9, 11)).toBeCloseTo(haversine(12, 10, 11, 10), 6);
    // More than 90 degrees of longitude away, the nearest point is the edge's poleward corner.
    expect(distanceToBox(0, 10, 0, 1, -179.5, -179)).toBeCloseTo(haversine(0, 10, 1, -179.5), 3);
    // Across the antimeridian the nearer edge is the one going east.
    expect(distanceToBox(0, 179.5, 0, 1, -180, -179)).toBeCloseTo(haversine(0, 179.5, 0, -180), 3);
  });
});

describe('cap extents', () => {
  it('bound every point of a circle', () => {
    fc.assert(
      fc.property(fc.double({ min: -80, max: 80, noNaN: true }), fc.double({ min: 1, max: 500_000, noNaN: true }), fc.double({ min: 0, max: 2 * Math.PI, noNaN: true }), (lat, r, bearing) => {
        // Destination point at distance r along `bearing` from (lat, 0).
        const d = r / EARTH_RADIUS_METERS;
        const phi = (lat * Math.PI) / 180;
        const lat2 = Math.asin(Math.sin(phi) * Math.cos(d) + Math.cos(phi) * Math.sin(d) * Math.cos(bearing));
        const lon2 = Math.atan2(Math.sin(bearing) * Math.sin(d) * Math.cos(phi), Math.cos(d) - Math.sin(phi) * Math.sin(lat2));
        expect(Math.abs((lat2 * 180) / Math.PI - lat)).toBeLessThanOrEqual(metersToLatDegrees(r) + 1e-9);
        expect(Math.abs((lon2 * 180) / Math.PI)).toBeLessThanOrEqual(capLonHalfWidthDegrees(lat, r) + 1e-9);
      }),
    );
    expect(capLonHalfWidthDegrees(89, 200_000)).toBe(Infinity);
  });
});
