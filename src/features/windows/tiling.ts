/**
 * Tile widths: how finely a window is cut into pre-aggregated tiles.
 *
 * A window of length W is served from tiles of width t = the smallest "round" width that is
 * at least W / MAX_TILES_PER_WINDOW (1m -> 2s, 5m -> 10s, 1h -> 2m, 24h -> 1h, 7d -> 6h).
 * Round widths make windows of similar length share one tile series (45m and 1h both use 2m
 * tiles) and keep tile boundaries aligned to UTC clock units.
 *
 * Precision (the documented semantics, which the brute-force model in the tests follows):
 * the value of a window W read at time `now` aggregates every event whose tile overlaps
 * (now - W, now], i.e. whose timestamp ts satisfies  floor(ts / t) * t + t > now - W.
 * So a window never misses an event younger than W and covers at most one tile more than W:
 * an event older than W by less than t may still count (W/30 at most, 1/24 for 24h).
 * Events with timestamps after `now` count as soon as they are ingested.
 * `lifetime` windows are a single tile that never expires.
 */

/** At most 30 full tiles per window: bounds memory and read cost; precision is W/30 or better. */
export const MAX_TILES_PER_WINDOW = 30;

const S = 1_000;
const M = 60 * S;
const H = 60 * M;
/** Widths that divide the next larger UTC clock unit, so tiles align to minutes, hours and days. */
const ROUND_WIDTHS = [
  10, 50, 100, 250, 500,
  S, 2 * S, 5 * S, 10 * S, 15 * S, 30 * S,
  M, 2 * M, 5 * M, 10 * M, 15 * M, 30 * M,
  H, 2 * H, 3 * H, 6 * H, 12 * H, 24 * H,
];

/** Tile width in ms for a window of `windowMs` (Infinity for lifetime). */
export function tileWidthFor(windowMs: number): number {
  if (!Number.isFinite(windowMs)) return Number.POSITIVE_INFINITY;
  const min = windowMs / MAX_TILES_PER_WINDOW;
  for (const w of ROUND_WIDTHS) if (w >= min) return w;
  // Windows longer than 30 days: whole days.
  return Math.ceil(min / (24 * H)) * 24 * H;
}

/** Index of the tile of width `width` holding time `ts` (0 for lifetime). */
export function tileIndex(ts: number, width: number): number {
  return Number.isFinite(width) ? Math.floor(ts / width) : 0;
}

/** Lowest tile index a window of `windowMs` includes at time `now` (see the precision note). */
export function firstTileInWindow(now: number, windowMs: number, width: number): number {
  if (!Number.isFinite(windowMs)) return Number.NEGATIVE_INFINITY;
  // Tile k is included iff (k + 1) * width > now - windowMs.
  return Math.floor((now - windowMs) / width);
}
