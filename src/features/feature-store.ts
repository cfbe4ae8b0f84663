/**
 * FeatureStore: every windowed feature of the pipeline, by name. The one object the
 * transports talk to for windowed values; it owns its WindowedAggregators.
 */
import { InputError } from '../input-error.js';
import { sweepShare } from './sweep-pace.js';
import { WindowedAggregator, type WindowRead, type WindowedFeatureDefinition } from './windows/windowed-aggregator.js';
import type { EventValue } from './windows/aggregators.js';

/** A feature (or window, or view) the pipeline does not declare: bad input, named in the message. */
export class UnknownFeatureError extends InputError {
  constructor(message: string) {
    super(message);
    this.name = 'UnknownFeatureError';
  }
}

export class FeatureStore {
  private readonly features = new Map<string, WindowedAggregator>();

  constructor(definitions: WindowedFeatureDefinition[]) {
    for (const d of definitions) this.features.set(d.name, new WindowedAggregator(d));
  }

  /** The aggregator of feature `name`; throws UnknownFeatureError naming it. */
  feature(name: string): WindowedAggregator {
    const f = this.features.get(name);
    if (f === undefined) throw new UnknownFeatureError(`unknown feature "${name}"`);
    return f;
  }

  has(name: string): boolean {
    return this.features.has(name);
  }

  names(): string[] {
    return [...this.features.keys()];
  }

  /** Adds one event to feature `name` for `entity` at event time `ts` (`weight`: a topk item's weight, default 1). */
  update(name: string, entity: string, value: EventValue, ts: number, weight?: number): void {
    this.feature(name).update(entity, value, ts, weight);
  }

  /**
   * Value of one window as of `now`, or with `at` as a read at that moment would have given
   * (WindowedAggregator.readAt); throws UnknownFeatureError for an unknown feature or window.
   */
  read(name: string, entity: string, window: string, now: number, quantile?: number, at?: number): WindowRead {
    const f = this.feature(name);
    if (!f.hasWindow(window)) throw new UnknownFeatureError(`feature "${name}" has no window "${window}" (windows: ${f.windows.join(', ')})`);
    if (quantile !== undefined) {
      if (f.aggregator.name !== 'quantile') throw new InputError(`quantile: ${quantile} asked of feature "${name}", a ${f.aggregator.name}; it applies to quantile features only`);
      if (!(quantile >= 0 && quantile <= 1)) throw new InputError(`quantile: ${quantile} is not a rank between 0 and 1`);
    }
    return at === undefined ? f.read(entity, window, now, quantile) : f.readAt(entity, window, at, now, quantile);
  }

  /**
   * Frees idle entities, examining at most `budget` entities per feature; with `intervalMs` (the
   * caller's tick), each feature examines only its share (sweepShare) of that. Returns the number freed.
   */
  sweep(now: number, budget: number, intervalMs?: number): number {
    let freed = 0;
    for (const f of this.features.values()) freed += f.sweep(now, intervalMs === undefined ? budget : sweepShare(f.sweepSize, f.retentionMs, intervalMs, budget));
    return freed;
  }

  /** WindowedAggregator.absorb of each feature of `other` (a store of the same pipeline); returns the entities taken. */
  absorb(other: FeatureStore): number {
    let n = 0;
    for (const name of other.names()) if (this.has(name)) n += this.feature(name).absorb(other.feature(name));
    return n;
  }

  /** WindowedAggregator.dropWhere on every feature; returns the total dropped. */
  dropWhere(drop: (entity: string) => boolean): number {
    let n = 0;
    for (const f of this.features.values()) n += f.dropWhere(drop);
    return n;
  }

  /** Live entities per feature (a metric). */
  sizes(): { name: string; entities: number }[] {
    return [...this.features.values()].map((f) => ({ name: f.name, entities: f.size }));
  }
}
