/**
 * WindowedAggregator: the state of one windowed feature for every entity.
 *
 * Each entity owns one packed array (`slots`) holding, for each tile width the feature's
 * windows use (see tiling.ts), the non-empty tiles in ascending tile order:
 *
 *   slots = [lastEventAt, n0, idx, ir, idx, ir, ..., n1, idx, ir, ...]
 *            └ entity    └ series 0 (n0 tiles)       └ series 1 ...
 *
 * Sparse tiles keep an entity that saw a handful of events down to a few slots, and numeric
 * IRs (count, sum, min, max) stay unboxed doubles in the array. Windows with the same tile
 * width share one series. Invariants: tiles of a series are sorted by index, none is older
 * than the longest window of its series needs (pruned on write, ignored on read), and an
 * entity is dropped once it has seen no event for longer than the feature's longest window
 * (never for features with a lifetime window).
 *
 * Time is always passed in: `ts` is the event time, `now` the reader's clock.
 */
import { UnknownFeatureError } from '../feature-store.js';
import { InputError } from '../../input-error.js';
import { formatDuration } from '../../pipeline/duration.js';
import { formatTime } from '../../pipeline/time.js';
import { EventHistory } from './event-history.js';
import { aggregatorFor, type Aggregator, type EventValue } from './aggregators.js';
import { QuantileSketch } from './quantile-sketch.js';
import type { TopAnswer } from './space-saving.js';
import { firstTileInWindow, tileIndex, tileWidthFor } from './tiling.js';
import { SweepCursor } from '../sweep-pace.js';
import type { Aggregation } from '../../pipeline/pipeline.js';

export interface WindowDefinition {
  /** As written in the pipeline (`5m`, `lifetime`). */
  label: string;
  /** Length in ms; Infinity for lifetime. */
  ms: number;
}

export interface WindowedFeatureDefinition {
  name: string;
  aggregation: Aggregation;
  quantile?: number;
  /** topk: items an answer lists. */
  k?: number;
  windows: WindowDefinition[];
  /** How far back as-of reads reach (the pipeline's `history:`); absent = no as-of reads. */
  historyMs?: number;
}

interface Series {
  width: number;
  /** Longest window served by this series (tiles older than it needs are pruned). */
  spanMs: number;
}

export interface WindowRead {
  /** The window's value; null when no event falls in it (0 for count). */
  value: number | null;
  /** Event time of the entity's newest event (any window), or null for an unknown entity. */
  lastEventAt: number | null;
  /** topk features only: the window's heaviest items (an empty list when it holds no event). `value` is the first one's count. */
  top?: TopAnswer;
}

/** The answer of a topk window holding no event. */
const noTop = (): TopAnswer => ({ items: [], unlistedAtMost: 0 });

/**
 * A new entity's slots. Numeric features keep them in an unboxed double array: in a generic
 * array each tile write allocates a HeapNumber, which the next scavenge must copy and, the
 * array being old, often promote -- with 100k entities that made scavenges of 20-35 ms. The
 * literal of a double constant gives a double array whatever V8 has learnt at this site
 * (a literal `[ts]` follows the site's feedback, which sketch features turn into objects).
 */
function scalarSlots(ts: number): number[] {
  const slots = [0.5];
  slots[0] = ts;
  return slots;
}
function objectSlots(ts: number): unknown[] {
  return [ts];
}

/** Zero-filled unboxed double arrays by length, copied by scalarArray. */
const zeroArrays: number[][] = [];

/**
 * An unboxed double array of exactly `length` zeros, for a restore to fill by index and hand
 * to loadScalar: one allocation of the final size (a copy of a template), where pushing onto
 * scalarSlots() would grow the array and leave spare capacity on a million entities.
 */
export function scalarArray(length: number): number[] {
  let zeros = zeroArrays[length];
  if (zeros === undefined) {
    zeros = scalarSlots(0);
    while (zeros.length < length) zeros.push(0);
    zeroArrays[length] = zeros;
  }
  return zeros.slice();
}

/** Appended by concat to make room for one tile (never changed). */
const ONE_TILE: readonly number[] = [0, 0];

/** Slot holding the entity's newest event time. */
const LAST_EVENT = 0;
/** Slots per tile: its index and its IR. */
const TILE = 2;

export class WindowedAggregator {
  readonly name: string;
  readonly aggregator: Aggregator<unknown>;
  private readonly series: Series[];
  /** For each window label: index of its series and its length. */
  private readonly windowIndex = new Map<string, { series: number; ms: number }>();
  /** Idle time after which an entity is freed (Infinity when a window is lifetime). */
  readonly retentionMs: number;
  /** How far back as-of reads reach; 0 without `history:`. */
  readonly historyMs: number;
  /** The applied events of the last historyMs + longest window (see event-history.ts); undefined without history. */
  readonly history: EventHistory | undefined;
  private readonly entities = new Map<string, unknown[]>();
  private readonly sweeper = new SweepCursor(this.entities);
  /**
   * The array a series update grew into, for the caller to carry on with.
   * A new tile is written into a copy one tile longer made in one allocation (concat), never
   * by pushing onto the stored array: a push beyond its exact capacity allocated a larger
   * backing store that the old array (in the old generation) pointed to, so the next
   * scavenge copied and promoted it even once the array was replaced -- with the exact copy
   * made after it, most of what ingest promoted (about 300 bytes per event with 100k cards).
   */
  private grownScalar: number[] | undefined;
  private grownObject: unknown[] | undefined;
  /** Tile IRs of the window being read (sketch aggregations); emptied after each read. */
  private readonly readScratch: unknown[] = [];

  constructor(def: WindowedFeatureDefinition) {
    this.name = def.name;
    this.aggregator = aggregatorFor(def.aggregation, def.quantile, def.k);
    const widths = new Map<number, number>();
    for (const w of def.windows) {
      const width = tileWidthFor(w.ms);
      if (!widths.has(width)) widths.set(width, widths.size);
    }
    this.series = [...widths.keys()].map((width) => ({ width, spanMs: 0 }));
    for (const w of def.windows) {
      const s = widths.get(tileWidthFor(w.ms))!;
      this.series[s].spanMs = Math.max(this.series[s].spanMs, w.ms);
      this.windowIndex.set(w.label, { series: s, ms: w.ms });
    }
    const longest = Math.max(...def.windows.map((w) => w.ms));
    this.historyMs = def.historyMs ?? 0;
    if (this.historyMs > 0) {
      const widest = Math.max(...this.series.map((x) => x.width));
      // An as-of read at now - historyMs reads tiles back to one tile before its window.
      this.history = new EventHistory(this.historyMs + longest + (Number.isFinite(widest) ? widest : 0), this.aggregator.top !== undefined);
    }
    this.retentionMs = longest + this.historyMs;
  }

  /** Labels of the windows this feature serves, as declared. */
  get windows(): string[] {
    return [...this.windowIndex.keys()];
  }

  hasWindow(label: string): boolean {
    return this.windowIndex.has(label);
  }

  /** Number of entities holding state. */
  get size(): number {
    return this.entities.size;
  }

  /** Entities the current sweep pass started with (the current count between passes). */
  get sweepSize(): number {
    return this.sweeper.size;
  }

  /** True when `entity` holds state (an update of it allocates no new entity). */
  has(entity: string): boolean {
    return this.entities.has(entity);
  }

  /**
   * Adds one event of `entity` at event time `ts`; `weight` (finite, >= 0) is the item's weight
   * for topk, ignored by other aggregations. The caller has checked lateness and type.
   */
  update(entity: string, value: EventValue, ts: number, weight = 1): void {
    if (this.aggregator.scalar) this.updateScalar(entity, value, ts);
    else this.updateObject(entity, value, ts, weight);
    if (this.history !== undefined) this.history.add(entity, value, ts, this.entities.get(entity)![LAST_EVENT] as number, weight);
  }

  // updateScalar/updateSeriesScalar and updateObject/updateSeriesObject are the same code
  // twice, on purpose: a keyed store that has seen both an unboxed double array and a generic
  // one makes V8 turn the double arrays generic (to keep the store monomorphic), which would
  // undo scalarSlots. Each copy only ever sees its own kind of array.

  private updateScalar(entity: string, value: EventValue, ts: number): void {
    let slots = this.entities.get(entity) as number[] | undefined;
    const fresh = slots === undefined;
    if (slots === undefined) {
      slots = scalarSlots(ts);
      for (let s = 0; s < this.series.length; s++) slots.push(0);
    } else if (ts > slots[LAST_EVENT]) {
      slots[LAST_EVENT] = ts;
    }
    const stored = slots;
    const newest = slots[LAST_EVENT];
    let at = 1;
    for (let s = 0; s < this.series.length; s++) {
      const { width, spanMs } = this.series[s];
      // Tiles wholly older than the longest window of the series (as of the newest event) go.
      const oldestKept = firstTileInWindow(newest, spanMs, width);
      at = this.updateSeriesScalar(slots, at, tileIndex(ts, width), oldestKept, value, ts);
      if (this.grownScalar !== undefined) {
        slots = this.grownScalar;
        this.grownScalar = undefined;
      }
    }
    // A new entity's array grew by pushes (spare capacity): store an exact copy, so idle
    // entities stay small. A new tile gave an exact array already (see grownScalar).
    if (fresh) this.entities.set(entity, slots.slice());
    else if (slots !== stored) this.entities.set(entity, slots);
  }

  /** Writes the event into one series starting at slot `at`; returns the next series' slot. */
  private updateSeriesScalar(slots: number[], at: number, idx: number, oldestKept: number, value: EventValue, ts: number): number {
    let n = slots[at];
    const first = at + 1;
    // Prune expired tiles from the front.
    let expired = 0;
    while (expired < n && slots[first + expired * TILE] < oldestKept) expired++;
    const agg = this.aggregator as Aggregator<number>;
    if (expired > 0 && idx >= oldestKept && idx > slots[first + (n - 1) * TILE]) {
      // The steady state of a short window: a tile expires as a newer one starts. Slide the
      // series' own tiles over the expired ones and reuse a freed tile at its end, instead of
      // moving every later series left and back right.
      const kept = (n - expired) * TILE;
      for (let i = first; i < first + kept; i++) slots[i] = slots[i + expired * TILE];
      const p = first + kept;
      slots[p] = idx;
      slots[p + 1] = agg.prepare(value, ts, 1);
      if (expired > 1) {
        const gap = (expired - 1) * TILE;
        const end = slots.length - gap;
        for (let i = p + TILE; i < end; i++) slots[i] = slots[i + gap];
        slots.length = end;
      }
      n = n - expired + 1;
      slots[at] = n;
      return first + n * TILE;
    }
    if (expired > 0) {
      // In place (splice would allocate the array of removed elements; copyWithin is slow).
      const gap = expired * TILE;
      const end = slots.length - gap;
      for (let i = first; i < end; i++) slots[i] = slots[i + gap];
      slots.length = end;
      n -= expired;
    }
    if (idx < oldestKept) {
      // Older than anything a window of this series can still show: nothing to keep.
      slots[at] = n;
      return first + n * TILE;
    }
    // Find the tile from the back: events arrive mostly in order.
    let k = n - 1;
    while (k >= 0 && slots[first + k * TILE] > idx) k--;
    if (k >= 0 && slots[first + k * TILE] === idx) {
      const p = first + k * TILE + 1;
      slots[p] = agg.update(slots[p], value, ts, 1);
    } else {
      // A new tile: into a copy one tile longer (see grownScalar), with a gap at its place.
      const p = first + (k + 1) * TILE;
      const grown = slots.concat(ONE_TILE);
      for (let i = grown.length - 1; i >= p + TILE; i--) grown[i] = grown[i - TILE];
      grown[p] = idx;
      grown[p + 1] = agg.prepare(value, ts, 1);
      n++;
      grown[at] = n;
      this.grownScalar = grown;
      return first + n * TILE;
    }
    slots[at] = n;
    return first + n * TILE;
  }

  private updateObject(entity: string, value: EventValue, ts: number, weight: number): void {
    let slots = this.entities.get(entity);
    const fresh = slots === undefined;
    if (slots === undefined) {
      slots = objectSlots(ts);
      for (let s = 0; s < this.series.length; s++) slots.push(0);
    } else if (ts > (slots[LAST_EVENT] as number)) {
      slots[LAST_EVENT] = ts;
    }
    const stored = slots;
    const newest = slots[LAST_EVENT] as number;
    let at = 1;
    for (let s = 0; s < this.series.length; s++) {
      const { width, spanMs } = this.series[s];
      const oldestKept = firstTileInWindow(newest, spanMs, width);
      at = this.updateSeriesObject(slots, at, tileIndex(ts, width), oldestKept, value, ts, weight);
      if (this.grownObject !== undefined) {
        slots = this.grownObject;
        this.grownObject = undefined;
      }
    }
    if (fresh) this.entities.set(entity, slots.slice());
    else if (slots !== stored) this.entities.set(entity, slots);
  }

  private updateSeriesObject(slots: unknown[], at: number, idx: number, oldestKept: number, value: EventValue, ts: number, weight: number): number {
    let n = slots[at] as number;
    const first = at + 1;
    let expired = 0;
    while (expired < n && (slots[first + expired * TILE] as number) < oldestKept) expired++;
    if (expired > 0) {
      // In place (splice would allocate the array of removed elements; copyWithin is slow).
      const gap = expired * TILE;
      const end = slots.length - gap;
      for (let i = first; i < end; i++) slots[i] = slots[i + gap];
      slots.length = end;
      n -= expired;
    }
    if (idx < oldestKept) {
      slots[at] = n;
      return first + n * TILE;
    }
    let k = n - 1;
    while (k >= 0 && (slots[first + k * TILE] as number) > idx) k--;
    const agg = this.aggregator;
    if (k >= 0 && slots[first + k * TILE] === idx) {
      const p = first + k * TILE + 1;
      slots[p] = agg.update(slots[p], value, ts, weight);
    } else {
      const p = first + (k + 1) * TILE;
      const grown = slots.concat(ONE_TILE);
      for (let i = grown.length - 1; i >= p + TILE; i--) grown[i] = grown[i - TILE];
      grown[p] = idx;
      grown[p + 1] = agg.prepare(value, ts, weight);
      n++;
      grown[at] = n;
      this.grownObject = grown;
      return first + n * TILE;
    }
    slots[at] = n;
    return first + n * TILE;
  }

  /**
   * Value of `entity` over window `label` as of `now`. Throws on an unknown window. `rank`
   * (quantile features only: the caller checks) answers that quantile of the window's sketch
   * instead of the feature's declared one.
   */
  read(entity: string, label: string, now: number, rank?: number): WindowRead {
    const w = this.windowIndex.get(label);
    if (w === undefined) throw new UnknownFeatureError(`feature "${this.name}" has no window "${label}" (windows: ${this.windows.join(', ')})`);
    const slots = this.entities.get(entity);
    const emptyValue = this.aggregator.name === 'count' ? 0 : null;
    const agg = this.aggregator;
    if (slots === undefined) return agg.top === undefined ? { value: emptyValue, lastEventAt: null } : { value: null, lastEventAt: null, top: noTop() };
    let at = 1;
    for (let s = 0; s < w.series; s++) at += 1 + (slots[at] as number) * TILE;
    const n = slots[at] as number;
    const width = this.series[w.series].width;
    const from = firstTileInWindow(now, w.ms, width);
    const lastEventAt = slots[LAST_EVENT] as number;
    if (agg.mergeFinalize !== undefined) {
      // Sketches: hand the tiles in the window to the aggregator's own union read.
      const irs = this.readScratch;
      for (let k = 0, p = at + 1; k < n; k++, p += TILE) if ((slots[p] as number) >= from) irs.push(slots[p + 1]);
      if (agg.top !== undefined) {
        const top = irs.length === 0 ? noTop() : agg.top(irs);
        irs.length = 0;
        return { value: top.items.length === 0 ? null : top.items[0].count, lastEventAt, top };
      }
      const value = irs.length === 0 ? emptyValue : rank === undefined ? agg.mergeFinalize(irs) : QuantileSketch.quantileOf(irs as QuantileSketch[], rank);
      irs.length = 0;
      return { value, lastEventAt };
    }
    let acc = agg.empty();
    let merged = 0;
    for (let k = 0, p = at + 1; k < n; k++, p += TILE) {
      if ((slots[p] as number) >= from) {
        acc = agg.merge(acc, slots[p + 1]);
        merged++;
      }
    }
    return { value: merged === 0 ? emptyValue : agg.finalize(acc), lastEventAt };
  }

  /**
   * The value a read at `at` would give from the events with ts <= `at` (an as-of read): the
   * tiles of window `label` at `at`, rebuilt from the kept events in the order they were
   * applied (see event-history.ts), so the answer equals a live read at `at` over those
   * events. `lastEventAt` is the newest such event. Throws InputError when the feature keeps no
   * history, when `at` is older than now - historyMs (naming the oldest time available) or
   * later than `now`.
   */
  readAt(entity: string, label: string, at: number, now: number, rank?: number): WindowRead {
    const w = this.windowIndex.get(label);
    if (w === undefined) throw new UnknownFeatureError(`feature "${this.name}" has no window "${label}" (windows: ${this.windows.join(', ')})`);
    this.checkAsOf(at, now);
    const emptyValue = this.aggregator.name === 'count' ? 0 : null;
    const agg = this.aggregator;
    const empty: WindowRead = agg.top === undefined ? { value: emptyValue, lastEventAt: null } : { value: null, lastEventAt: null, top: noTop() };
    const events = this.history!.events(entity);
    if (events === undefined) return empty;
    const width = this.series[w.series].width;
    const from = firstTileInWindow(at, w.ms, width);
    // Tile index -> IR, built in applied order (prepare, then update), as the live tiles are.
    const tiles = new Map<number, unknown>();
    let lastEventAt: number | null = null;
    const { ts, values, weights } = events;
    for (let i = events.head; i < ts.length; i++) {
      const t = ts[i];
      if (t > at) continue;
      if (lastEventAt === null || t > lastEventAt) lastEventAt = t;
      const idx = tileIndex(t, width);
      if (idx < from) continue;
      const ir = tiles.get(idx);
      const weight = weights === undefined ? 1 : weights[i];
      tiles.set(idx, ir === undefined ? agg.prepare(values[i], t, weight) : agg.update(ir, values[i], t, weight));
    }
    if (tiles.size === 0) return { ...empty, lastEventAt };
    const irs = [...tiles.entries()].sort((a, b) => a[0] - b[0]).map((e) => e[1]);
    if (agg.top !== undefined) {
      const top = agg.top(irs);
      return { value: top.items.length === 0 ? null : top.items[0].count, lastEventAt, top };
    }
    if (agg.mergeFinalize !== undefined) {
      const value = rank === undefined ? agg.mergeFinalize(irs) : QuantileSketch.quantileOf(irs as QuantileSketch[], rank);
      return { value, lastEventAt };
    }
    let acc = agg.empty();
    for (const ir of irs) acc = agg.merge(acc, ir);
    return { value: agg.finalize(acc), lastEventAt };
  }

  /** The oldest moment an as-of read may ask for at `now` (-Infinity: no bound), or undefined without history. */
  oldestAsOf(now: number): number | undefined {
    return this.history === undefined ? undefined : now - this.historyMs;
  }

  /** Throws InputError unless `at` is a moment this feature can answer as of, at `now`. */
  checkAsOf(at: number, now: number): void {
    if (this.history === undefined) throw new InputError(`feature "${this.name}" keeps no history for at: reads; declare history: (e.g. history: 1d) on it in the pipeline`);
    if (at > now) throw new InputError(`at: ${formatTime(at)} is in the future (now is ${formatTime(now)})`);
    if (at < now - this.historyMs) throw new InputError(`at: ${formatTime(at)} is older than feature "${this.name}" keeps (history: ${formatDuration(this.historyMs)}); the oldest time available is ${formatTime(now - this.historyMs)}`);
  }

  /**
   * The first time after `now` at which a tile can leave window `label` (its value can change
   * with no event), Infinity for lifetime. Tile k leaves at (k + 1) * width + W (see
   * tiling.ts), so these times are W mod width past a multiple of the width.
   */
  nextExpiryAt(label: string, now: number): number {
    const w = this.windowIndex.get(label);
    if (w === undefined) throw new UnknownFeatureError(`feature "${this.name}" has no window "${label}" (windows: ${this.windows.join(', ')})`);
    if (!Number.isFinite(w.ms)) return Number.POSITIVE_INFINITY;
    const width = this.series[w.series].width;
    const offset = w.ms % width;
    let t = Math.floor((now - offset) / width) * width + offset;
    while (t <= now) t += width;
    return t;
  }

  /** Newest event time of `entity`, or null. */
  lastEventAt(entity: string): number | null {
    const slots = this.entities.get(entity);
    return slots === undefined ? null : (slots[LAST_EVENT] as number);
  }

  /**
   * Frees entities idle for longer than the longest window, examining at most `budget`
   * entities from where the previous call stopped, so a caller can spread a full pass over
   * many ticks. Returns the number freed.
   */
  sweep(now: number, budget: number): number {
    if (!Number.isFinite(this.retentionMs)) return 0;
    // Same horizon as reads: the entity's newest tile no longer overlaps any window.
    const history = this.history;
    return this.sweeper.sweep(budget, (slots, key) => {
      if (!this.isIdle(slots[LAST_EVENT] as number, now)) return false;
      history?.delete(key);
      return true;
    });
  }

  /**
   * True when an entity whose newest event is at `newest` shows nothing in any window at `now`,
   * nor at any moment an as-of read may still ask for (back to now - historyMs).
   */
  private isIdle(newest: number, now: number): boolean {
    const oldestRead = now - this.historyMs;
    for (const { width, spanMs } of this.series) {
      if (tileIndex(newest, width) >= firstTileInWindow(oldestRead, spanMs, width)) return false;
    }
    return true;
  }

  /** Entity keys holding state (for snapshots and diagnostics). */
  keys(): IterableIterator<string> {
    return this.entities.keys();
  }

  /** Tile width of each series, in slot order (a snapshot's layout check). */
  tileWidths(): number[] {
    return this.series.map((s) => s.width);
  }

  /**
   * Every entity with its packed slots (layout in the file header), for snapshots. The
   * arrays are the live ones: read them before the next update, never change them.
   */
  entries(): IterableIterator<[string, readonly unknown[]]> {
    return this.entities.entries();
  }

  /**
   * Puts back one entity as entries() gave it (tiles sorted per series, IRs owned by the
   * caller from now on). Precondition: the slots follow this feature's tileWidths().
   */
  load(entity: string, slots: unknown[]): void {
    if (this.aggregator.scalar) {
      // Into an unboxed array (see scalarSlots), whatever kind of array the caller built.
      const unboxed = scalarSlots(slots[LAST_EVENT] as number);
      for (let i = 1; i < slots.length; i++) unboxed.push(slots[i] as number);
      this.entities.set(entity, unboxed);
    } else this.entities.set(entity, slots);
  }

  /**
   * load() for a numeric feature whose caller built the slots with scalarArray(): kept as
   * given, without a copy. Precondition: `this.aggregator.scalar`.
   */
  loadScalar(entity: string, slots: number[]): void {
    this.entities.set(entity, slots);
  }

  /**
   * Drops the entities `drop` selects, with their history (a partition handed to another
   * instance); the others are left as they are. Returns the number dropped.
   */
  dropWhere(drop: (entity: string) => boolean): number {
    let n = 0;
    for (const entity of this.entities.keys()) {
      if (!drop(entity)) continue;
      this.entities.delete(entity);
      this.history?.delete(entity);
      n++;
    }
    return n;
  }

  /**
   * Takes over every entity of `other` (the same feature, another store: a partition's state
   * handed over), with its history; `other` must not be used afterwards.
   */
  absorb(other: WindowedAggregator): number {
    let n = 0;
    for (const [entity, slots] of other.entries()) {
      this.load(entity, slots as unknown[]);
      n++;
    }
    if (this.history !== undefined && other.history !== undefined) for (const [entity, e] of other.history.entries()) this.history.load(entity, e.ts, e.values, e.weights);
    return n;
  }

  /** Drops every entity. */
  clear(): void {
    this.entities.clear();
    this.history?.clear();
    this.sweeper.reset();
  }
}
