/**
 * Aggregators: how one feature turns event values into tile state and tile state into a
 * value. Shaped as Chronon's BaseAggregator (prepare / update / merge / finalize): a tile holds
 * an intermediate representation (IR) built with `prepare` + `update`; at read time the tiles
 * of a window are folded with `merge` into a fresh `empty()` accumulator and `finalize`d.
 *
 * Every aggregator here is mergeable (associative and commutative over tiles), which is what
 * lets windows be served from pre-aggregated tiles. Numeric IRs are plain numbers so that
 * count/sum/min/max tiles cost one slot; sketches are objects.
 * Contract: `merge(acc, ir)` may change and return `acc`, never `ir`; `update` may change `ir`.
 */
import { HyperLogLog } from './hyperloglog.js';
import { QuantileSketch } from './quantile-sketch.js';
import { SpaceSaving, type TopAnswer } from './space-saving.js';
import { DEFAULT_TOPK, type Aggregation } from '../../pipeline/pipeline.js';

export type EventValue = number | string;

export interface Aggregator<IR> {
  readonly name: Aggregation;
  /** True when `update` needs a numeric value (all but count, distinct, topk). */
  readonly numeric: boolean;
  /** True when the IR is a plain number (count, sum, min, max): tiles can live in an unboxed double array. */
  readonly scalar: boolean;
  /** IR of a tile holding one event; `weight` is read by topk only (the item's weight, >= 0). */
  prepare(value: EventValue, ts: number, weight: number): IR;
  /** Adds one event to a tile's IR; returns the new IR. */
  update(ir: IR, value: EventValue, ts: number, weight: number): IR;
  /** Identity for `merge`: a fresh accumulator. */
  empty(): IR;
  /** Folds `ir` into `acc`; returns the accumulator. */
  merge(acc: IR, ir: IR): IR;
  /** The feature value of an IR, or null when no event contributed. */
  finalize(acc: IR): number | null;
  /**
   * Optional read fast path: finalize(merge of `irs` into empty()) without building the
   * accumulator; `irs` is non-empty and not changed. Sketches have one; numbers need none.
   */
  mergeFinalize?(irs: readonly IR[]): number | null;
  /** topk only: the window's list (as mergeFinalize, which gives its heaviest count). */
  top?(irs: readonly IR[]): TopAnswer;
}

const count: Aggregator<number> = {
  name: 'count',
  scalar: true,
  numeric: false,
  prepare: () => 1,
  update: (ir) => ir + 1,
  empty: () => 0,
  merge: (acc, ir) => acc + ir,
  finalize: (acc) => acc,
};

// A window holding no tile reads as null for every aggregation but count (0): the window
// reader decides that before calling finalize, so sum's empty accumulator can be a plain 0.
const sum: Aggregator<number> = {
  name: 'sum',
  scalar: true,
  numeric: true,
  prepare: (v) => v as number,
  update: (ir, v) => ir + (v as number),
  empty: () => 0,
  merge: (acc, ir) => acc + ir,
  finalize: (acc) => acc,
};

const min: Aggregator<number> = {
  name: 'min',
  scalar: true,
  numeric: true,
  prepare: (v) => v as number,
  update: (ir, v) => Math.min(ir, v as number),
  empty: () => Number.POSITIVE_INFINITY,
  merge: (acc, ir) => Math.min(acc, ir),
  finalize: (acc) => (acc === Number.POSITIVE_INFINITY ? null : acc),
};

const max: Aggregator<number> = {
  name: 'max',
  scalar: true,
  numeric: true,
  prepare: (v) => v as number,
  update: (ir, v) => Math.max(ir, v as number),
  empty: () => Number.NEGATIVE_INFINITY,
  merge: (acc, ir) => Math.max(acc, ir),
  finalize: (acc) => (acc === Number.NEGATIVE_INFINITY ? null : acc),
};

interface AvgIR {
  sum: number;
  count: number;
}
const avg: Aggregator<AvgIR> = {
  name: 'avg',
  scalar: false,
  numeric: true,
  prepare: (v) => ({ sum: v as number, count: 1 }),
  update: (ir, v) => {
    ir.sum += v as number;
    ir.count++;
    return ir;
  },
  empty: () => ({ sum: 0, count: 0 }),
  merge: (acc, ir) => {
    acc.sum += ir.sum;
    acc.count += ir.count;
    return acc;
  },
  finalize: (acc) => (acc.count === 0 ? null : acc.sum / acc.count),
};

/** Latest value by event time; on equal times the later arrival wins. */
interface LastIR {
  ts: number;
  value: number;
}
const last: Aggregator<LastIR> = {
  name: 'last',
  scalar: false,
  numeric: true,
  prepare: (v, ts) => ({ ts, value: v as number }),
  update: (ir, v, ts) => {
    if (ts >= ir.ts) {
      ir.ts = ts;
      ir.value = v as number;
    }
    return ir;
  },
  empty: () => ({ ts: Number.NEGATIVE_INFINITY, value: Number.NaN }),
  merge: (acc, ir) => {
    if (ir.ts >= acc.ts) {
      acc.ts = ir.ts;
      acc.value = ir.value;
    }
    return acc;
  },
  finalize: (acc) => (acc.ts === Number.NEGATIVE_INFINITY ? null : acc.value),
};

const distinct: Aggregator<HyperLogLog> = {
  name: 'distinct',
  scalar: false,
  numeric: false,
  prepare: (v) => {
    const h = new HyperLogLog();
    h.add(v);
    return h;
  },
  update: (ir, v) => {
    ir.add(v);
    return ir;
  },
  empty: () => new HyperLogLog(),
  merge: (acc, ir) => acc.merge(ir),
  finalize: (acc) => acc.count(),
  mergeFinalize: (irs) => HyperLogLog.countOf(irs),
};

function quantile(q: number): Aggregator<QuantileSketch> {
  return {
    name: 'quantile',
    scalar: false,
    numeric: true,
    prepare: (v) => {
      const s = new QuantileSketch();
      s.add(v as number);
      return s;
    },
    update: (ir, v) => {
      ir.add(v as number);
      return ir;
    },
    empty: () => new QuantileSketch(),
    merge: (acc, ir) => acc.merge(ir),
    finalize: (acc) => acc.quantile(q),
    mergeFinalize: (irs) => QuantileSketch.quantileOf(irs, q),
  };
}

/**
 * Items a topk tile monitors exactly: 4k, and at least 32 so that small k still sees the
 * typical spread of a tile (a card's merchants in two minutes). Every error is at most the
 * window's total weight / capacity.
 */
export function topkCapacity(k: number): number {
  return Math.max(4 * k, 32);
}

/** Heavy hitters: per tile a Space-Saving summary (space-saving.ts); the value is the heaviest item's count. */
function topk(k: number): Aggregator<SpaceSaving> {
  const capacity = topkCapacity(k);
  return {
    name: 'topk',
    scalar: false,
    numeric: false,
    prepare: (v, _ts, w) => {
      const s = new SpaceSaving(capacity);
      s.add(v as string, w);
      return s;
    },
    update: (ir, v, _ts, w) => {
      ir.add(v as string, w);
      return ir;
    },
    empty: () => new SpaceSaving(Number.POSITIVE_INFINITY),
    merge: (acc, ir) => acc.merge(ir),
    finalize: (acc) => acc.top(1).items[0]?.count ?? null,
    mergeFinalize: (irs) => SpaceSaving.topOf(irs, 1).items[0]?.count ?? null,
    top: (irs) => SpaceSaving.topOf(irs, k),
  };
}

/** The aggregator for a feature definition (`q`: quantile's rank, `k`: topk's length). */
export function aggregatorFor(aggregation: Aggregation, q?: number, k?: number): Aggregator<unknown> {
  switch (aggregation) {
    case 'count':
      return count as Aggregator<unknown>;
    case 'sum':
      return sum as Aggregator<unknown>;
    case 'min':
      return min as Aggregator<unknown>;
    case 'max':
      return max as Aggregator<unknown>;
    case 'avg':
      return avg as Aggregator<unknown>;
    case 'last':
      return last as Aggregator<unknown>;
    case 'distinct':
      return distinct as Aggregator<unknown>;
    case 'quantile':
      return quantile(q ?? 0.5) as Aggregator<unknown>;
    case 'topk':
      return topk(k ?? DEFAULT_TOPK) as Aggregator<unknown>;
  }
}
