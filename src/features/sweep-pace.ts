/**
 * Idle sweeps: how many entities one examines per tick, and its walk over a store. A store's
 * entities can only go idle after its retention (a feature's longest window, a view's TTL), so
 * a full pass need not be faster than a small part of it: examining every entity of a 24 h
 * feature every few seconds only spends CPU (and allocates an iterator entry per entity)
 * between requests.
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

/**
 * The walk of an idle sweep over a store's entities, a slice at a time, resuming where the
 * previous slice stopped (a Map iterator survives deletions), with the number of entities the
 * pass under way started with, which sets its pace (sweepShare) while entities go.
 */
export class SweepCursor<V> {
  private cursor: Iterator<[string, V]> | undefined;
  private passSize = 0;

  constructor(private readonly entities: Map<string, V>) {}

  /** Entities the pass under way started with (the current count between passes). */
  get size(): number {
    return this.cursor === undefined ? this.entities.size : this.passSize;
  }

  /**
   * Examines at most `budget` entities and deletes those `expired` says are; a slice stops
   * early at the end of a pass. Returns the number deleted.
   */
  sweep(budget: number, expired: (value: V, key: string) => boolean): number {
    let freed = 0;
    for (let i = 0; i < budget; i++) {
      if (this.cursor === undefined) {
        this.cursor = this.entities.entries();
        this.passSize = this.entities.size;
      }
      const next = this.cursor.next();
      if (next.done) {
        this.cursor = undefined;
        break;
      }
      if (expired(next.value[1], next.value[0])) {
        this.entities.delete(next.value[0]);
        freed++;
      }
    }
    return freed;
  }

  /** Starts the next slice at a new pass (after the store was cleared). */
  reset(): void {
    this.cursor = undefined;
  }
}
