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
   * Adds every value of `other`; `other` is not changed. Not through DDSketch.merge: in
   * sketches-js 2.1 it merges the positive store only (the values below zero of `other` were
   * counted yet lost), and DenseStore.merge widens its range with `_extendRange(min, max)`,
   * which takes a maximum key of 0 (a value near 1) for "absent" and then writes bins outside
   * the range. Each non-empty bin is added by key (DenseStore.add widens one key at a time),
   * and the summary counters follow, so the result equals one sketch fed every value.
   */
  merge(other: QuantileSketch): this {
    const into = this.sketch;
    const from = other.sketch;
    if (from.count === 0) return this;
    addBins(into.store, from.store);
    addBins(into.negativeStore, from.negativeStore);
    into.zeroCount += from.zeroCount;
    into.count += from.count;
    into.sum += from.sum;
    if (from.min < into.min) into.min = from.min;
    if (from.max > into.max) into.max = from.max;
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

/** Adds every non-empty bin of `from` to `into`, key by key. */
function addBins(into: DDSketch['store'], from: DDSketch['store']): void {
  if (from.count === 0) return;
  const bins = (from as unknown as SketchStoreState).bins;
  const offset = (from as unknown as SketchStoreState).offset;
  for (let i = 0; i < bins.length; i++) if (bins[i] > 0) into.add(i + offset, bins[i]);
}
