/**
 * Times as events and requests write them: epoch milliseconds or ISO-8601 text. One reading
 * everywhere (event timestamps, GraphQL arguments, leaderboard periods, the CLI), the same on
 * every server whatever its time zone: a text without a zone (`2026-11-25T13:00:00`) is UTC,
 * never the server's local time, and only ISO-8601 is read (Date.parse also takes forms such
 * as `2026/11/25 13:00`, which it reads in local time).
 */

/** The latest time a JavaScript Date can hold (±100,000,000 days from the epoch, ECMA-262 21.4.1.1). */
export const MAX_TIME_MS = 8.64e15;

/**
 * ISO-8601 date, or date and time: `YYYY-MM-DD`, then optionally `T` (or a space) and
 * `HH:MM`, `HH:MM:SS`, `HH:MM:SS.fff` (any number of fraction digits), then optionally a zone:
 * `Z`, `±HH:MM`, `±HHMM` or `±HH`. Years of 4 digits, or 6 with a sign (the extended form).
 */
const ISO_TIME = /^([+-]\d{6}|\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?(Z|[+-]\d{2}(?::?\d{2})?)?)?$/i;

/**
 * Epoch milliseconds of an ISO-8601 text (see ISO_TIME), reading a time without a zone as UTC;
 * NaN when the text is not ISO-8601 or names no real instant (month 13, 25:00, Feb 30).
 */
export function parseIsoTime(text: string): number {
  const m = ISO_TIME.exec(text.trim());
  if (m === null) return Number.NaN;
  const [, y, mo, d, h = '00', mi = '00', s = '00', frac = '', zone] = m;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const hour = Number(h);
  const minute = Number(mi);
  const second = Number(s);
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 24 || minute > 59 || second > 59) return Number.NaN;
  if (hour === 24 && (minute !== 0 || second !== 0 || /[1-9]/.test(frac))) return Number.NaN;
  const ms = frac === '' ? 0 : Math.floor(Number(`0.${frac}`) * 1000);
  let offset = 0;
  if (zone !== undefined && zone.toUpperCase() !== 'Z') {
    const sign = zone[0] === '-' ? -1 : 1;
    const digits = zone.slice(1).replace(':', '');
    const zh = Number(digits.slice(0, 2));
    const zm = digits.length > 2 ? Number(digits.slice(2)) : 0;
    if (zh > 23 || zm > 59) return Number.NaN;
    offset = sign * (zh * 60 + zm) * 60_000;
  }
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  // A day that does not exist in that month rolls over (Feb 30 -> Mar 2): refuse it.
  if (date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) return Number.NaN;
  const t = date.getTime() + hour * 3_600_000 + minute * 60_000 + second * 1000 + ms - offset;
  return Number.isFinite(t) && Math.abs(t) <= MAX_TIME_MS ? t : Number.NaN;
}

/** A time given as epoch ms (a number) or ISO-8601 text; NaN for anything else. */
export function parseTime(value: unknown): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'string') return parseIsoTime(value);
  return Number.NaN;
}

/** True when `ms` is a time a Date can hold (finite, within ±MAX_TIME_MS). */
export function isRepresentableTime(ms: number): boolean {
  return Number.isFinite(ms) && Math.abs(ms) <= MAX_TIME_MS;
}

/**
 * ISO-8601 text of `ms` for a message; never throws: a value a Date cannot hold is written
 * as the number itself (`1e+20 ms`), so building an error message can never fail.
 */
export function formatTime(ms: number): string {
  return isRepresentableTime(ms) ? new Date(ms).toISOString() : `${String(ms)} ms`;
}
