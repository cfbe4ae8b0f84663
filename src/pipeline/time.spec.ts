import fc from 'fast-check';
import { formatTime, MAX_TIME_MS, parseIsoTime, parseTime } from './time.js';

describe('parseIsoTime', () => {
  it('reads back every time Date writes, with a zone and (as UTC) without one', () => {
    fc.assert(
      fc.property(fc.integer({ min: -MAX_TIME_MS, max: MAX_TIME_MS }), (ms) => {
        const iso = new Date(ms).toISOString();
        expect(parseIsoTime(iso)).toBe(ms);
        expect(parseIsoTime(iso.slice(0, -1))).toBe(ms);
      }),
      { numRuns: 2000 },
    );
  });

  it('applies a zone offset as ISO-8601 says: local time minus the offset', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 4_102_444_800_000 }), fc.integer({ min: -14 * 60, max: 14 * 60 }), (ms, offsetMin) => {
        const local = new Date(ms + offsetMin * 60_000).toISOString().slice(0, -1);
        const sign = offsetMin < 0 ? '-' : '+';
        const abs = Math.abs(offsetMin);
        const zone = `${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
        expect(parseIsoTime(local + zone)).toBe(ms);
        expect(parseIsoTime(local + zone.replace(':', ''))).toBe(ms);
      }),
    );
  });

  it.each([
    ['2026-11-25T13:00:00', Date.UTC(2026, 10, 25, 13)],
    ['2026-11-25t13:00z', Date.UTC(2026, 10, 25, 13)],
    ['2026-11-25 13:00:00.5', Date.UTC(2026, 10, 25, 13, 0, 0, 500)],
    ['2026-11-25T13:00:00.123456789Z', Date.UTC(2026, 10, 25, 13, 0, 0, 123)],
    ['2026-11-25T13:00+05:30', Date.UTC(2026, 10, 25, 7, 30)],
    ['2026-11-25T13:00-05', Date.UTC(2026, 10, 25, 18)],
    ['2026-11-25T24:00:00Z', Date.UTC(2026, 10, 26)],
    ['2024-02-29', Date.UTC(2024, 1, 29)],
    ['0001-01-01T00:00:00Z', -62135596800000],
  ])('reads %s', (text, ms) => {
    expect(parseIsoTime(text)).toBe(ms);
  });

  it.each(['yesterday', '2026/11/25 13:00', 'Nov 25 2026', '2026-13-01', '2026-02-30', '2025-02-29', '2026-11-25T25:00', '2026-11-25T24:01', '2026-11-25T13:60', '2026-11-25T13:00+24:00', '+275760-09-13T00:00:00.001Z', '', '1764075600000'])(
    'refuses %j',
    (text) => {
      expect(parseIsoTime(text)).toBeNaN();
    },
  );

  it('takes epoch milliseconds as they are and nothing but numbers and text', () => {
    expect(parseTime(1_764_075_600_000)).toBe(1_764_075_600_000);
    expect(parseTime(true)).toBeNaN();
    expect(parseTime(null)).toBeNaN();
  });

  it('formats any number without throwing', () => {
    expect(formatTime(0)).toBe('1970-01-01T00:00:00.000Z');
    expect(formatTime(1e20)).toBe('100000000000000000000 ms');
    expect(formatTime(Number.NaN)).toBe('NaN ms');
    expect(formatTime(-Infinity)).toBe('-Infinity ms');
  });
});
