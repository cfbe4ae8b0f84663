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

/** Per-key counts of summed stores for quantileOf, reused across reads (grown on demand). */
let keyScratch = new Float64Array(1024);

export class QuantileSketch {
  private readonly sketch = new DDSketch({ relativeAccuracy: QUANTILE_RELATIVE_ACCURACY });

  add(value: number): void {
    this.sketch.accept(value);
  }

  /**
   * Adds every value of `other`; `other` is not changed. sketches-js 2.1's DDSketch.merge
   * merges the positive store only (unless this sketch is empty, when it copies both): the
   * values below zero of `other` would be counted yet lost, and every quantile read from the
   * merge shifted. The negative store is merged here unless the library already did.
   */
  merge(other: QuantileSketch): this {
    const into = this.sketch;
    const from = other.sketch;
    const negatives = into.negativeStore.count;
    into.merge(from);
    if (into.negativeStore.count !== negatives + from.negativeStore.count) into.negativeStore.merge(from.negativeStore);
    return this;
  }

  get count(): number {
    return this.sketch.count;
  }

  /** The value at rank `q` in [0, 1], or null when the sketch is empty. */
  quantile(q: number): number | null {
    return this.sketch.count === 0 ? null : this.sketch.getValueAtQuantile(q);
  }

  /**
   * The value at rank `q` of the union of `sketches`: exactly what merging them into one sketch
   * and asking `quantile(q)` answers, without building that sketch (a window read merges up to
   * 30 tiles, and a fresh DDSketch plus a dense-store copy and resize per tile cost ~40 us).
   * Null when all are empty.
   */
  static quantileOf(sketches: readonly QuantileSketch[], q: number): number | null {
    if (sketches.length === 1) return sketches[0].quantile(q);
    let count = 0;
    let zeros = 0;
    let negatives = 0;
    for (const { sketch } of sketches) {
      count += sketch.count;
      zeros += sketch.zeroCount;
      negatives += sketch.negativeStore.count;
    }
    if (count === 0) return null;
    if (q < 0 || q > 1) return Number.NaN;
    // As BaseDDSketch.getValueAtQuantile, over the summed stores.
    const rank = q * (count - 1);
    const mapping = sketches[0].sketch.mapping;
    if (rank < negatives) return -mapping.value(QuantileSketch.keyAtRank(sketches, 'negativeStore', negatives - rank - 1, false));
    if (rank < zeros + negatives) return 0;
    return mapping.value(QuantileSketch.keyAtRank(sketches, 'store', rank - zeros - negatives, true));
  }

  /**
   * DenseStore.keyAtRank over the sum of one store of each sketch: the first key whose running
   * count exceeds `rank` (lower) or reaches rank + 1 (upper), or the largest key when rounding
   * leaves none. Counts are integers, so the running sums are exact as in a merged store.
   */
  private static keyAtRank(sketches: readonly QuantileSketch[], which: 'store' | 'negativeStore', rank: number, lower: boolean): number {
    let minKey = Infinity;
    let maxKey = -Infinity;
    for (const { sketch } of sketches) {
      const st = sketch[which];
      if (st.count === 0) continue;
      if (st.minKey < minKey) minKey = st.minKey;
      if (st.maxKey > maxKey) maxKey = st.maxKey;
    }
    const span = maxKey - minKey + 1;
    if (keyScratch.length < span) keyScratch = new Float64Array(span * 2);
    const sums = keyScratch;
    sums.fill(0, 0, span);
    for (const { sketch } of sketches) {
      const st = sketch[which];
      if (st.count === 0) continue;
      const bins = st.bins;
      for (let key = st.minKey; key <= st.maxKey; key++) sums[key - minKey] += bins[key - st.offset];
    }
    let running = 0;
    for (let i = 0; i < span; i++) {
      running += sums[i];
      if (lower ? running > rank : running >= rank + 1) return i + minKey;
    }
    return maxKey;
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
