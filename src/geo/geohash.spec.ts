import fc from 'fast-check';
import { GEOHASH_MAX_STEP, deinterleave, geohashCenter, geohashDecode, geohashEncode, interleave, latSlice, lonSlice, sliceLatMin, sliceLonMin } from './geohash.js';
import { LAT_MAX, LAT_MIN } from './coordinates.js';

describe('geohash (Redis geohash.c)', () => {
  it('gives the 52-bit scores redis-server 7 stores for GEOADD', () => {
    // GEOADD Sicily 13.361389 38.115556 Palermo 15.087269 37.502669 Catania; ZRANGE ... WITHSCORES
    expect(geohashEncode(38.115556, 13.361389)).toBe(3479099956230698);
    expect(geohashEncode(37.502669, 15.087269)).toBe(3479447370796909);
    expect(geohashEncode(LAT_MIN, -180)).toBe(0);
  });

  it('decodes to the centre Redis reports in GEOPOS', () => {
    const c = geohashCenter(3479099956230698);
    expect(c.lon).toBeCloseTo(13.36138933897018433, 12);
    expect(c.lat).toBeCloseTo(38.11555639549629859, 12);
  });

  it('interleave and deinterleave are inverse on 26-bit pairs', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 26 - 1 }), fc.integer({ min: 0, max: 2 ** 26 - 1 }), (x, y) => {
        const bits = interleave(x, y);
        expect(bits).toBeLessThan(2 ** 52);
        expect(deinterleave(bits)).toEqual([x, y]);
      }),
    );
    expect(interleave(1, 0)).toBe(1);
    expect(interleave(0, 1)).toBe(2);
    expect(interleave(2 ** 25, 2 ** 25)).toBe(3 * 2 ** 50);
  });

  it('puts every position inside the cell it decodes to, at every step', () => {
    fc.assert(
      fc.property(
        fc.double({ min: LAT_MIN, max: LAT_MAX, noNaN: true }),
        fc.double({ min: -180, max: 180, noNaN: true }),
        fc.integer({ min: 1, max: GEOHASH_MAX_STEP }),
        (lat, lon, step) => {
          const y = latSlice(lat, step);
          const x = lonSlice(lon, step);
          expect(x).toBeGreaterThanOrEqual(0);
          expect(x).toBeLessThan(2 ** step);
          expect(y).toBeLessThan(2 ** step);
          const area = geohashDecode(geohashEncode(lat, lon, step), step);
          expect(area.latMin).toBe(sliceLatMin(y, step));
          expect(area.lonMin).toBe(sliceLonMin(x, step));
          // A few ulps of slack: the slice comes from one rounding, the edges from another.
          expect(lat).toBeGreaterThanOrEqual(area.latMin - 1e-12);
          expect(lat).toBeLessThanOrEqual(area.latMax + 1e-12);
          expect(lon).toBeGreaterThanOrEqual(area.lonMin - 1e-12);
          expect(lon).toBeLessThanOrEqual(area.lonMax + 1e-12);
        },
      ),
    );
  });

  it('clamps the upper limits into the last slice (Redis overflows into bit `step`)', () => {
    expect(lonSlice(180, 17)).toBe(2 ** 17 - 1);
    expect(latSlice(LAT_MAX, 17)).toBe(2 ** 17 - 1);
    expect(lonSlice(-180, 17)).toBe(0);
  });
});
