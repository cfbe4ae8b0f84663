/**
 * MemoryGuard: the memory budget (TALLY_MEMORY_BUDGET). State grows with entities -- a
 * feature's or a view's entity, a leaderboard or geo member -- so once memory reaches the
 * budget, the event processor refuses events that would create one (reason `memory-budget`)
 * and keeps applying events of entities it already holds; TTLs and idle sweeps free entities
 * and make room again. Declared policy: reject new entities (no eviction).
 *
 * Memory is V8's used heap plus external memory (typed arrays), read every SAMPLE_EVERY
 * checks (a read costs about half a microsecond), so the check on the ingest path is a
 * counter increment, and state can overshoot the budget by at most SAMPLE_EVERY events'
 * worth. The used heap includes garbage not yet collected: the guard errs on the side of
 * refusing early, never late.
 */
import { getHeapStatistics } from 'node:v8';
import type { Metrics } from './metrics.js';

/** Checks between two reads of the heap statistics. */
export const SAMPLE_EVERY = 64;

/** Used heap + external memory, in bytes. */
export function memoryInUse(): number {
  const s = getHeapStatistics();
  return s.used_heap_size + s.external_memory;
}

export class MemoryGuard {
  private checks = 0;
  private over = false;
  /** Bytes in use at the last read. */
  used = 0;

  /**
   * @param budget bytes at and above which new entities are refused
   * @param measure reads the bytes in use (memoryInUse; tests may pass their own)
   */
  constructor(
    readonly budget: number,
    private readonly measure: () => number = memoryInUse,
    private readonly sampleEvery = SAMPLE_EVERY,
  ) {
    this.refresh();
  }

  /** True when memory was at or above the budget at the last read (reads every sampleEvery calls). */
  full(): boolean {
    if (++this.checks >= this.sampleEvery) this.refresh();
    return this.over;
  }

  /** Reads memory now; returns the bytes in use. */
  refresh(): number {
    this.checks = 0;
    this.used = this.measure();
    this.over = this.used >= this.budget;
    return this.used;
  }

  /** Reports budget, use and state in the metrics at each scrape. */
  report(metrics: Metrics): void {
    metrics.memoryBudget.set(this.budget);
    metrics.onCollect(() => {
      metrics.memoryUsed.set(this.refresh());
      metrics.memoryFull.set(this.over ? 1 : 0);
    });
  }
}
