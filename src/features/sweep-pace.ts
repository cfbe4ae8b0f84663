/**
 * How many entities an idle sweep examines per tick. A store's entities can only go idle
 * after its retention (a feature's longest window, a view's TTL), so a full pass need not be
 * faster than a small part of it: examining every entity of a 24 h feature every few seconds
 * only spends CPU (and allocates an iterator entry per entity) between requests.
 */

/** A full pass over one store takes at least this long... */
export const MIN_PASS_MS = 5_000;
/** ...or this fraction of its retention, whichever is longer: idle entities linger at most 1 % past it. */
export const PASSES_PER_RETENTION = 100;

/**
 * Entities to examine in one tick of `intervalMs` so that a pass over `size` entities takes
 * about max(MIN_PASS_MS, retentionMs / PASSES_PER_RETENTION); at least 1, at most `max`, and 0
 * for a store nothing expires from.
 */
export function sweepShare(size: number, retentionMs: number, intervalMs: number, max: number): number {
  if (size === 0 || !Number.isFinite(retentionMs)) return 0;
  const passMs = Math.max(MIN_PASS_MS, retentionMs / PASSES_PER_RETENTION);
  return Math.min(max, Math.max(1, Math.ceil((size * intervalMs) / passMs)));
}
