/**
 * ThresholdWatch: "tell me when an entity's window value crosses above T" (or "drops under
 * T"), exactly once per crossing, whatever moves the value: an event, or tiles leaving the
 * window as time passes.
 *
 * Each evaluation of an entity reads its window value and puts it on one side of T. The watch
 * keeps one set, `marked`, of the entities whose last evaluation was on the watched side's
 * far bank:
 * - `above: T`: the entities above T. An entity crosses when it is evaluated above T while not
 *   marked; it re-arms (leaves the set) when evaluated at or below T or holding no value.
 * - `below: T`: the entities at or above T (armed). An entity crosses when it is evaluated
 *   under T while marked, and leaves the set; it re-arms once evaluated at or above T again.
 *   A window holding no value is not a value: a count reads 0 (so a heartbeat count that
 *   drains crosses any positive T), but a null (sum, min, max, avg... of an empty window)
 *   neither crosses nor arms: it disarms, and the entity must be seen at or above T again
 *   before it can cross. To alert when such a window drains, watch a count of the same events.
 * Evaluations happen:
 * - around each event of the entity: before it is applied (before(): the tiles that left the
 *   window since the last evaluation may have moved it, so a value that fell re-arms `above`
 *   and crosses `below`), and after (after(): did the event take it across?);
 * - at each time a tile leaves the window (expire(), called by the owner's timer at
 *   nextExpiryAt()): every marked entity is evaluated (for `above` they may fall back, for
 *   `below` they may drop under). For aggregations whose value can rise when tiles leave (min,
 *   avg, quantile, a sum of negative numbers, last), every entity of the feature is evaluated
 *   too, so such rises cross `above` and arm `below`.
 * This equals evaluating the window at every event and at every tile boundary (the model in
 * the spec), from the watch's creation on. Time is passed in; the watch owns no timer.
 *
 * Cost. `above` marks only the entities above T (usually few). `below` marks every entity at or
 * above T, which may be most of them (every live host of a heartbeat count): a Set entry each,
 * one read each at every tile boundary (a window's width / 30: 2 s for 1m, 2 m for 1h), and a
 * read of every entity of the feature when the watch is created (to arm those already at or
 * above; an entity already under T then does not cross until it has been at or above again).
 * TODO: index entities by the tile that leaves their window next, so a boundary reads only the
 * entities it changes.
 */
import { InputError } from '../input-error.js';
import type { WindowedAggregator } from './windows/windowed-aggregator.js';

/**
 * Aggregations whose window value never rises when tiles leave it (fewer events, fewer distinct
 * values, a lower max; for topk, each item's count is a sum over tiles of non-negative terms).
 */
const FALLS_ON_EXPIRY: ReadonlySet<string> = new Set(['count', 'distinct', 'max', 'topk']);

export interface Crossing {
  entity: string;
  value: number;
}

/** Exactly one of the two: alert when the value goes above `above`, or drops under `below`. */
export interface Threshold {
  above?: number | null;
  below?: number | null;
}

export class ThresholdWatch {
  /** `above`: entities above T at their last evaluation; `below`: entities at or above T (armed). */
  private readonly marked = new Set<string>();
  /** True when a value can rise as tiles leave: expire() must read every entity. */
  private readonly risesOnExpiry: boolean;
  /** Which way a crossing goes. */
  readonly direction: 'above' | 'below';
  /** T. */
  readonly threshold: number;

  /**
   * Watches window `window` of `feature` from `now` on. Throws InputError unless exactly one
   * of `above` and `below` is a number, and UnknownFeatureError for an unknown window.
   */
  constructor(
    private readonly feature: WindowedAggregator,
    readonly window: string,
    threshold: Threshold,
    now: number,
  ) {
    const { above, below } = threshold;
    const hasAbove = above !== undefined && above !== null;
    const hasBelow = below !== undefined && below !== null;
    if (hasAbove === hasBelow) throw new InputError('a threshold takes exactly one of `above` and `below`');
    this.direction = hasAbove ? 'above' : 'below';
    this.threshold = hasAbove ? above : (below as number);
    if (Number.isNaN(this.threshold)) throw new InputError(`\`${this.direction}\` must be a number`);
    feature.nextExpiryAt(window, 0); // throws UnknownFeatureError for an unknown window
    this.risesOnExpiry = !FALLS_ON_EXPIRY.has(feature.aggregator.name);
    // `below` arms the entities already at or above T; `above` starts with none above (one
    // already above crosses at its next evaluation).
    if (this.direction === 'below') for (const entity of feature.keys()) this.evaluate(entity, now);
  }

  /** Entities marked at their last evaluation: above T for `above`, at or above T for `below`. */
  get size(): number {
    return this.marked.size;
  }

  /**
   * Before an event of `entity` is applied at `now`: evaluates it if tiles leaving may have
   * moved it since its last evaluation. The crossing, if tiles leaving took it across (the
   * owner's timer had not run yet).
   */
  before(entity: string, now: number): Crossing | undefined {
    if (this.marked.has(entity) || this.risesOnExpiry) return this.evaluate(entity, now);
    return undefined;
  }

  /** After an event of `entity` was applied at `now`: the crossing, if the event took it across. */
  after(entity: string, now: number): Crossing | undefined {
    return this.evaluate(entity, now);
  }

  /**
   * At a time tiles left the window (nextExpiryAt()): re-evaluates the marked entities (and, for
   * aggregations that can rise as tiles leave, every entity); returns the crossings, in no
   * particular order. Marked entities the feature has freed are evaluated (as holding nothing)
   * and then forgotten: a freed entity has no value until its next event.
   */
  expire(now: number): Crossing[] {
    const out: Crossing[] = [];
    const add = (c: Crossing | undefined): void => {
      if (c !== undefined) out.push(c);
    };
    if (this.risesOnExpiry) for (const entity of this.feature.keys()) add(this.evaluate(entity, now));
    // Deleting the entry being visited is safe in a Set iteration; evaluate() adds no other entry here.
    for (const entity of this.marked) {
      if (this.feature.has(entity)) {
        if (!this.risesOnExpiry) add(this.evaluate(entity, now));
      } else {
        add(this.evaluate(entity, now));
        // Forgotten even when it stays marked (a count `below` 0 or `above` -1): the set then
        // holds only entities with state, at the price of one more crossing in those degenerate cases.
        this.marked.delete(entity);
      }
    }
    return out;
  }

  /** The next time the window's value can change without an event (Infinity for lifetime). */
  nextExpiryAt(now: number): number {
    return this.feature.nextExpiryAt(this.window, now);
  }

  private evaluate(entity: string, now: number): Crossing | undefined {
    const value = this.feature.read(entity, this.window, now).value;
    if (this.direction === 'above') {
      if (value === null || !(value > this.threshold)) {
        this.marked.delete(entity);
        return undefined;
      }
      if (this.marked.has(entity)) return undefined;
      this.marked.add(entity);
      return { entity, value };
    }
    if (value !== null && value >= this.threshold) {
      this.marked.add(entity);
      return undefined;
    }
    if (!this.marked.delete(entity) || value === null) return undefined;
    return { entity, value };
  }
}
