/**
 * Durations as written in the pipeline file and in GraphQL arguments: an integer followed by
 * a unit (`ms`, `s`, `m`, `h`, `d`, `w`), e.g. `30s`, `5m`, `24h`, `7d`. Windows may also be
 * `lifetime` (all events since the entity appeared), represented as `LIFETIME_MS`.
 */

/** Marker length of the `lifetime` window: no event ever falls out of it. */
export const LIFETIME_MS = Number.POSITIVE_INFINITY;

const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

const DURATION = /^(\d+)(ms|s|m|h|d|w)$/;

/** Parses `30s`, `5m`… into milliseconds; returns undefined when the text is not a duration. */
export function parseDuration(text: unknown): number | undefined {
  if (typeof text !== 'string') return undefined;
  const m = DURATION.exec(text.trim());
  if (!m) return undefined;
  const ms = Number(m[1]) * UNIT_MS[m[2]];
  return ms > 0 && Number.isSafeInteger(ms) ? ms : undefined;
}

/** Parses a window: a duration or `lifetime` (returned as `LIFETIME_MS`). */
export function parseWindow(text: unknown): number | undefined {
  if (text === 'lifetime') return LIFETIME_MS;
  return parseDuration(text);
}

/** Writes `ms` in the largest unit that divides it (`86400000` -> `1d`, `90000` -> `90s`). */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return 'lifetime';
  for (const unit of ['w', 'd', 'h', 'm', 's']) if (ms % UNIT_MS[unit] === 0 && ms > 0) return `${ms / UNIT_MS[unit]}${unit}`;
  return `${ms}ms`;
}
