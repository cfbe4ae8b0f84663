/**
 * ThresholdWatch: "tell me when an entity's window value crosses above T", exactly once per
 * crossing, whatever moves the value: an event, or tiles leaving the window as time passes.
 *
 * The watch keeps the set of entities that were above T at their last evaluation (`over`).
 * An entity crosses when it is evaluated above T while not in the set; it re-arms when it is
 * evaluated at or below T (or holds no value). Evaluations happen:
 * - around each event of the entity: before it is applied (before(): the tiles that left the
 *   window since the last evaluation may have brought it down, which re-arms it), and after
 *   (after(): did the event take it above?);
 * - at each time a tile leaves the window (expire(), called by the owner's timer at
 *   nextExpiryAt()): every entity in the set is evaluated, so one that drained re-arms and
 *   leaves the set, which therefore never holds more than the entities currently above T. For
 *   aggregations whose value can rise when tiles leave (min, avg, quantile, a sum of negative
 *   numbers, last), every entity of the feature is evaluated, so such rises cross too.
 * This equals evaluating the window at every event and at every tile boundary (the model in
 * the spec). Time is passed in; the watch owns no timer.
 */
import type { WindowedAggregator } from './windows/windowed-aggregator.js';

/** Aggregations whose window value never rises when tiles leave it (fewer events, fewer distinct values, a lower max). */
const FALLS_ON_EXPIRY: ReadonlySet<string> = new Set(['count', 'distinct', 'max']);

export interface Crossing {
  entity: string;
  value: number;
}

export class ThresholdWatch {
  private readonly over = new Set<string>();
  private readonly risesOnExpiry: boolean;

  constructor(
    private readonly feature: WindowedAggregator,
    readonly window: string,
    readonly above: number,
  ) {
    feature.nextExpiryAt(window, 0); // throws UnknownFeatureError for an unknown window
    this.risesOnExpiry = !FALLS_ON_EXPIRY.has(feature.aggregator.name);
  }

  /** Entities above the threshold at their last evaluation. */
  get size(): number {
    return this.over.size;
  }

  /** Before an event of `entity` is applied at `now`: re-arms it if its value has come down. */
  before(entity: string, now: number): void {
    if (this.over.has(entity)) this.evaluate(entity, now);
  }

  /** After an event of `entity` was applied at `now`: the crossing, if the value just went above. */
  after(entity: string, now: number): Crossing | undefined {
    return this.evaluate(entity, now);
  }

  /**
   * At a time tiles left the window (nextExpiryAt()): re-evaluates the entities above (and,
   * for aggregations that can rise as tiles leave, every entity); returns the crossings.
   */
  expire(now: number): Crossing[] {
    const out: Crossing[] = [];
    for (const entity of this.risesOnExpiry ? this.feature.keys() : [...this.over]) {
      const c = this.evaluate(entity, now);
      if (c !== undefined) out.push(c);
    }
    if (this.risesOnExpiry) for (const entity of this.over) if (!this.feature.has(entity)) this.over.delete(entity);
    return out;
  }

  /** The next time the window's value can change without an event (Infinity for lifetime). */
  nextExpiryAt(now: number): number {
    return this.feature.nextExpiryAt(this.window, now);
  }

  private evaluate(entity: string, now: number): Crossing | undefined {
    const value = this.feature.read(entity, this.window, now).value;
    if (value === null || !(value > this.above)) {
      this.over.delete(entity);
      return undefined;
    }
    if (this.over.has(entity)) return undefined;
    this.over.add(entity);
    return { entity, value };
  }
}
