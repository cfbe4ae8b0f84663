/**
 * Quantiles over windows with DDSketch (Masson, Rim, Lee, VLDB 2019): a mergeable sketch
 * whose answers are within a relative error of the true quantile value. This is the only
 * file that imports the sketch library.
 *
 * Snapshots use state() / fromState(): the sketch's dense bins and summary counters as plain
 * numbers. (The library's own toProto/fromProto needs protobufjs, which is not installed,
 * and fromProto drops min, max and sum.)
 */
import { DDSketch } from '@datadog/sketches-js';

/** One dense store of a sketch: bins[i] counts key i + offset; keys minKey..maxKey are in use. */
export interface SketchStoreState {
  bins: number[];
  count: number;
  minKey: number;
  maxKey: number;
  offset: number;
}

/** Everything a QuantileSketch holds, as plain numbers (see state()). */
export interface QuantileSketchState {
  zeroCount: number;
  count: number;
  min: number;
  max: number;
  sum: number;
  positive: SketchStoreState;
  negative: SketchStoreState;
}

/** 1 % relative accuracy: the returned quantile is within +/-1 % of an actual value at that rank. */
export const QUANTILE_RELATIVE_ACCURACY = 0.01;

export class QuantileSketch {
  private readonly sketch = new DDSketch({ relativeAccuracy: QUANTILE_RELATIVE_ACCURACY });

  add(value: number): void {
    this.sketch.accept(value);
  }

  /** Adds every value of `other`; `other` is not changed. */
  merge(other: QuantileSketch): this {
    this.sketch.merge(other.sketch);
    return this;
  }

  get count(): number {
    return this.sketch.count;
  }

  /** The value at rank `q` in [0, 1], or null when the sketch is empty. */
  quantile(q: number): number | null {
    return this.sketch.count === 0 ? null : this.sketch.getValueAtQuantile(q);
  }

  /** The sketch's full state, for snapshots; the arrays are the live ones (copy before changing). */
  state(): QuantileSketchState {
    const { zeroCount, count, min, max, sum, store, negativeStore } = this.sketch;
    return { zeroCount, count, min, max, sum, positive: storeState(store), negative: storeState(negativeStore) };
  }

  /** A sketch holding exactly `state` (from state()); it answers and merges as the original. */
  static fromState(state: QuantileSketchState): QuantileSketch {
    const q = new QuantileSketch();
    const s = q.sketch;
    s.store.copy(state.positive as DDSketch['store']);
    s.negativeStore.copy(state.negative as DDSketch['store']);
    s.zeroCount = state.zeroCount;
    s.count = state.count;
    s.min = state.min;
    s.max = state.max;
    s.sum = state.sum;
    return q;
  }
}

function storeState(store: DDSketch['store']): SketchStoreState {
  return { bins: store.bins, count: store.count, minKey: store.minKey, maxKey: store.maxKey, offset: store.offset };
}
