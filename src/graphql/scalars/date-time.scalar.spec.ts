import { Kind } from 'graphql';
import { DateTimeScalar } from './date-time.scalar.js';

describe('DateTimeScalar', () => {
  it('reads a time without a zone as UTC, from variables and literals alike', () => {
    const utc = Date.UTC(2026, 10, 25, 13);
    expect(DateTimeScalar.parseValue('2026-11-25T13:00:00')).toEqual(new Date(utc));
    expect(DateTimeScalar.parseValue('2026-11-25T13:00:00Z')).toEqual(new Date(utc));
    expect(DateTimeScalar.parseValue('2026-11-25T18:30:00+05:30')).toEqual(new Date(utc));
    expect(DateTimeScalar.parseLiteral({ kind: Kind.STRING, value: '2026-11-25T13:00' }, {})).toEqual(new Date(utc));
  });

  it('refuses what is not ISO-8601 with the value it got', () => {
    expect(() => DateTimeScalar.parseValue('Nov 25 2026 13:00')).toThrow('DateTime must be ISO-8601 text such as "2026-11-25T13:00:00Z" (UTC unless it names a zone), got "Nov 25 2026 13:00"');
    expect(() => DateTimeScalar.parseValue(1764075600000)).toThrow(/got 1764075600000/);
    expect(() => DateTimeScalar.parseLiteral({ kind: Kind.INT, value: '1' }, {})).toThrow(/ISO-8601/);
  });

  it('answers in UTC with milliseconds, and refuses a time no Date holds', () => {
    expect(DateTimeScalar.serialize(new Date(Date.UTC(2026, 10, 25, 13)))).toBe('2026-11-25T13:00:00.000Z');
    expect(() => DateTimeScalar.serialize(new Date(Number.NaN))).toThrow(/cannot represent/);
  });
});
