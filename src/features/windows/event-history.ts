/**
 * EventHistory: the accepted events of a feature with `history:`, per entity, in the order
 * they were applied, for as-of reads (`at:`).
 *
 * Tiles answer reads at the present; an as-of read at T needs every event with ts <= T in
 * the tiles of the window at T, and a tile cannot be split at T. So a feature that declares
 * `history: H` also keeps its raw events (time and value) for H plus its longest window plus
 * one tile, and an as-of read rebuilds the tiles of the window at T from the events with
 * ts <= T, in the order they were applied: the same IRs, built by the same prepare/update
 * calls in the same order as the live tiles, so a read at T equals a live read at T made
 * with exactly those events (bit for bit, sums included).
 *
 * Pruning follows the entity's newest event time, as tiles do: events older than
 * newest - keepMs go (from the front, where the oldest sit when events come in order; an
 * out-of-order old event further back stays until a compaction, ignored by reads).
 */
import type { EventValue } from './aggregators.js';

/** One entity's events: parallel arrays from `head` on (the front is dropped lazily). */
export interface EntityEvents {
  ts: number[];
  values: EventValue[];
  /** Each event's weight (topk); undefined for features that take none. */
  weights?: number[];
  head: number;
}

export class EventHistory {
  private readonly entities = new Map<string, EntityEvents>();

  /**
   * `keepMs`: how far behind the entity's newest event events are kept (Infinity: all);
   * `weighted`: keep each event's weight too (topk).
   */
  constructor(
    readonly keepMs: number,
    readonly weighted = false,
  ) {}

  get size(): number {
    return this.entities.size;
  }

  /** Records one applied event; `newest` is the entity's newest event time after it. */
  add(entity: string, value: EventValue, ts: number, newest: number, weight = 1): void {
    let e = this.entities.get(entity);
    if (e === undefined) {
      e = this.weighted ? { ts: [], values: [], weights: [], head: 0 } : { ts: [], values: [], head: 0 };
      this.entities.set(entity, e);
    }
    e.ts.push(ts);
    e.values.push(value);
    e.weights?.push(weight);
    if (!Number.isFinite(this.keepMs)) return;
    const cutoff = newest - this.keepMs;
    while (e.head < e.ts.length && e.ts[e.head] < cutoff) e.head++;
    // Compact once the dropped front is as large as what is kept: amortised O(1) per event.
    if (e.head > 16 && e.head * 2 >= e.ts.length) compact(e, cutoff);
  }

  /** Events of `entity` (or undefined): read `ts`/`values` from `head` on; do not change them. */
  events(entity: string): EntityEvents | undefined {
    return this.entities.get(entity);
  }

  delete(entity: string): void {
    this.entities.delete(entity);
  }

  /** Every entity with its kept events, for snapshots. */
  *entries(): IterableIterator<[string, { ts: number[]; values: EventValue[]; weights?: number[] }]> {
    for (const [key, e] of this.entities) yield [key, { ts: e.ts.slice(e.head), values: e.values.slice(e.head), weights: e.weights?.slice(e.head) }];
  }

  /** Puts back one entity's events as entries() gave them (applied order). */
  load(entity: string, ts: number[], values: EventValue[], weights?: number[]): void {
    this.entities.set(entity, this.weighted ? { ts, values, weights: weights ?? ts.map(() => 1), head: 0 } : { ts, values, head: 0 });
  }

  clear(): void {
    this.entities.clear();
  }
}

/** Drops the front and any older out-of-order event, keeping the applied order of the rest. */
function compact(e: EntityEvents, cutoff: number): void {
  const ts: number[] = [];
  const values: EventValue[] = [];
  const weights: number[] | undefined = e.weights === undefined ? undefined : [];
  for (let i = e.head; i < e.ts.length; i++) {
    if (e.ts[i] < cutoff) continue;
    ts.push(e.ts[i]);
    values.push(e.values[i]);
    weights?.push(e.weights![i]);
  }
  e.ts = ts;
  e.values = values;
  e.weights = weights;
  e.head = 0;
}
