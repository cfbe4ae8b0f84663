import fc from 'fast-check';
import { LAT_MAX, assertPosition, fromFixed, storedLat, storedLon, toFixedLat, toFixedLon, validatePosition, validateTime } from './coordinates.js';

describe('validatePosition', () => {
  it.each([
    [91, 0, 'lat 91 is out of range [-85.05112878, 85.05112878]'],
    [-85.06, 0, 'lat -85.06 is out of range [-85.05112878, 85.05112878]'],
    [0, 180.5, 'lon 180.5 is out of range [-180, 180]'],
    [0, -181, 'lon -181 is out of range [-180, 180]'],
    [NaN, 0, 'lat NaN is not a finite number'],
    [0, Infinity, 'lon Infinity is not a finite number'],
    [-Infinity, 0, 'lat -Infinity is not a finite number'],
    ['40.7', 0, 'lat must be a number, got string'],
    [0, null, 'lon must be a number, got null'],
    [undefined, 0, 'lat must be a number, got undefined'],
    [0, { lon: 1 }, 'lon must be a number, got object'],
  ])('rejects (%p, %p) naming the problem', (lat, lon, reason) => {
    expect(validatePosition(lat, lon)).toBe(reason);
    expect(() => assertPosition(lat, lon)).toThrow(new Error(reason));
  });

  it('accepts the inclusive Redis bounds', () => {
    for (const [lat, lon] of [
      [85.05112878, 180],
      [-85.05112878, -180],
      [0, 0],
      [-0, -0],
    ]) {
      expect(validatePosition(lat, lon)).toBeUndefined();
      expect(() => assertPosition(lat, lon)).not.toThrow();
    }
  });

  it('names the latitude first when both are wrong', () => {
    expect(validatePosition(100, 200)).toBe('lat 100 is out of range [-85.05112878, 85.05112878]');
  });
});

describe('validateTime', () => {
  it('accepts finite numbers and names the problem otherwise', () => {
    expect(validateTime(1_700_000_000_000)).toBeUndefined();
    expect(validateTime(NaN)).toBe('ts NaN is not a finite number (epoch ms)');
    expect(validateTime('1')).toBe('ts must be a number (epoch ms), got string');
    expect(validateTime(Infinity, 'now')).toBe('now Infinity is not a finite number (epoch ms)');
  });
});

describe('fixed-point storage', () => {
  it('is within half a unit of the input and idempotent', () => {
    fc.assert(
      fc.property(fc.double({ min: -LAT_MAX, max: LAT_MAX, noNaN: true }), fc.double({ min: -180, max: 180, noNaN: true }), (lat, lon) => {
        const sl = storedLat(lat);
        const so = storedLon(lon);
        expect(Math.abs(sl - lat)).toBeLessThanOrEqual(1e-7);
        expect(Math.abs(so - lon)).toBeLessThanOrEqual(0.5e-7 + 1e-12);
        expect(storedLat(sl)).toBe(sl);
        expect(storedLon(so)).toBe(so);
        expect(validatePosition(sl, so)).toBeUndefined();
      }),
    );
  });

  it('keeps the latitude limit inside the accepted range and is exact on 1e-7 multiples', () => {
    expect(fromFixed(toFixedLat(LAT_MAX))).toBe(85.0511287);
    expect(fromFixed(toFixedLat(-LAT_MAX))).toBe(-85.0511287);
    expect(fromFixed(toFixedLon(180))).toBe(180);
    fc.assert(
      fc.property(fc.integer({ min: -1_800_000_000, max: 1_800_000_000 }), (q) => {
        expect(toFixedLon(q / 1e7)).toBe(q);
      }),
    );
  });
});
