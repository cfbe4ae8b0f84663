/**
 * Quantiles over windows with DDSketch (Masson, Rim, Lee, VLDB 2019): a mergeable sketch
 * whose answers are within a relative error of the true quantile value. This is the only
 * file that imports the sketch library.
 */
import { DDSketch } from '@datadog/sketches-js';

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

  toBytes(): Uint8Array {
    return this.sketch.toProto();
  }
}
