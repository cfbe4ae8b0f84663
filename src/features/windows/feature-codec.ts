/**
 * The snapshot codec of windowed features, next to their layout (windowed-aggregator.ts):
 *
 *   FEAT <feature>   descriptor frame: aggregation, tile width per series
 *                    records: key, lastEventAt, per series: tile count, (tile index, IR)*
 *   FHST <feature>   (features with history:) descriptor frame: aggregation, 1 when each
 *                    event carries its weight (topk); records: key, event count, per event in
 *                    applied order: ts, tagged value (view-codec.ts), weight when weighted
 *
 * IRs by aggregation: count/sum/min/max one f64; avg sum, count; last ts, value; distinct
 * 0 + hashes (sparse) or 1 + 4096 registers; quantile the DDSketch state (summary numbers and
 * both dense stores); topk the Space-Saving summary: capacity, floor, item count, (item, count)*,
 * then 0, or 1 + one error per item (a tile keeps its own capacity, so a changed `k` applies
 * to new tiles). A section of another aggregation or other tile widths than the feature's now
 * is not restored (restoreFeature answers why).
 */
import { ByteReader, ByteWriter, type EachRecord } from '../../durability/binary.js';
import { readViewValue, V_NUMBER, V_STRING } from '../views/view-codec.js';
import type { EventHistory } from './event-history.js';
import { HyperLogLog } from './hyperloglog.js';
import { QuantileSketch } from './quantile-sketch.js';
import { SpaceSaving } from './space-saving.js';
import { scalarArray, type WindowedAggregator } from './windowed-aggregator.js';

/** Aggregations whose IR is one number. */
const NUMERIC_IR = new Set(['count', 'sum', 'min', 'max']);

type IrWriter = (w: ByteWriter, ir: unknown) => void;
type IrReader = (r: ByteReader) => unknown;

export function featureDescriptor(f: WindowedAggregator): Buffer {
  const widths = f.tileWidths();
  const d = new ByteWriter(256).str(f.aggregator.name).varint(widths.length);
  for (const w of widths) d.f64(w);
  return d.take();
}

function irCodec(aggregation: string): { write: IrWriter; read: IrReader } {
  switch (aggregation) {
    case 'count':
    case 'sum':
    case 'min':
    case 'max':
      return { write: (w, ir) => w.f64(ir as number), read: (r) => r.f64() };
    case 'avg':
      return {
        write: (w, ir) => {
          const a = ir as { sum: number; count: number };
          w.f64(a.sum).f64(a.count);
        },
        read: (r) => ({ sum: r.f64(), count: r.f64() }),
      };
    case 'last':
      return {
        write: (w, ir) => {
          const l = ir as { ts: number; value: number };
          w.f64(l.ts).f64(l.value);
        },
        read: (r) => ({ ts: r.f64(), value: r.f64() }),
      };
    case 'distinct':
      return {
        write: (w, ir) => {
          const s = (ir as HyperLogLog).state();
          if ('sparse' in s) {
            w.u8(0).varint(s.sparse.length);
            for (const h of s.sparse) w.u32(h);
          } else w.u8(1).varint(s.registers.length).bytes(s.registers);
        },
        read: (r) => {
          const kind = r.u8();
          const n = r.varint();
          if (kind === 0) {
            const sparse = new Array<number>(n);
            for (let i = 0; i < n; i++) sparse[i] = r.u32();
            return HyperLogLog.fromState({ sparse });
          }
          if (kind !== 1) throw new RangeError(`unknown HyperLogLog encoding ${kind}`);
          return HyperLogLog.fromState({ registers: r.bytes(n) });
        },
      };
    case 'quantile':
      return {
        write: (w, ir) => {
          const s = (ir as QuantileSketch).state();
          w.f64(s.zeroCount).f64(s.count).f64(s.min).f64(s.max).f64(s.sum);
          for (const st of [s.positive, s.negative]) {
            w.f64(st.count).f64(st.minKey).f64(st.maxKey).f64(st.offset).varint(st.bins.length);
            for (const b of st.bins) w.f64(b);
          }
        },
        read: (r) => {
          const zeroCount = r.f64();
          const count = r.f64();
          const min = r.f64();
          const max = r.f64();
          const sum = r.f64();
          const store = () => {
            const s = { count: r.f64(), minKey: r.f64(), maxKey: r.f64(), offset: r.f64(), bins: [] as number[] };
            const n = r.varint();
            for (let i = 0; i < n; i++) s.bins.push(r.f64());
            return s;
          };
          const positive = store();
          const negative = store();
          return QuantileSketch.fromState({ zeroCount, count, min, max, sum, positive, negative });
        },
      };
    case 'topk':
      return {
        write: (w, ir) => {
          const s = (ir as SpaceSaving).state();
          w.varint(s.capacity).f64(s.floor).varint(s.items.length);
          for (let i = 0; i < s.items.length; i++) w.str(s.items[i]).f64(s.counts[i]);
          if (s.errors === undefined) w.u8(0);
          else {
            w.u8(1);
            for (const e of s.errors) w.f64(e);
          }
        },
        read: (r) => {
          const capacity = r.varint();
          const floor = r.f64();
          const n = r.varint();
          const items = new Array<string>(n);
          const counts = new Array<number>(n);
          for (let i = 0; i < n; i++) {
            items[i] = r.str();
            counts[i] = r.f64();
          }
          const kind = r.u8();
          if (kind > 1) throw new RangeError(`unknown Space-Saving encoding ${kind}`);
          let errors: number[] | undefined;
          if (kind === 1) {
            errors = new Array<number>(n);
            for (let i = 0; i < n; i++) errors[i] = r.f64();
          }
          return SpaceSaving.fromState({ capacity, floor, items, counts, errors });
        },
      };
    default:
      throw new RangeError(`no snapshot encoding for aggregation "${aggregation}"`);
  }
}

/** Writes one entity of the FEAT section. */
export function featureRecord(f: WindowedAggregator): (w: ByteWriter, e: [string, readonly unknown[]]) => void {
  const series = f.tileWidths().length;
  const ir = irCodec(f.aggregator.name).write;
  return (w, [key, slots]) => {
    w.str(key).f64(slots[0] as number);
    let at = 1;
    for (let s = 0; s < series; s++) {
      const n = slots[at] as number;
      w.varint(n);
      at++;
      for (let k = 0; k < n; k++, at += 2) {
        w.f64(slots[at] as number);
        ir(w, slots[at + 1]);
      }
    }
  };
}

/** The FHST descriptor: the aggregation, then 1 when each event carries its weight (topk). */
export function featureHistoryDescriptor(f: WindowedAggregator, history: EventHistory): Buffer {
  return new ByteWriter(64).str(f.aggregator.name).varint(history.weighted ? 1 : 0).take();
}

/** Writes one entity of the FHST section: its kept events. */
export function featureHistoryRecord(history: EventHistory): (w: ByteWriter, e: [string, { ts: readonly number[]; values: readonly (number | string)[]; weights?: readonly number[] }]) => void {
  const weighted = history.weighted;
  return (w, [key, e]) => {
    w.str(key).varint(e.ts.length);
    for (let i = 0; i < e.ts.length; i++) {
      const v = e.values[i];
      w.f64(e.ts[i]);
      if (typeof v === 'number') w.u8(V_NUMBER).f64(v);
      else w.u8(V_STRING).str(v);
      if (weighted) w.f64(e.weights![i]);
    }
  };
}

/** Loads a FEAT section into the (emptied) feature; a string says why it was not (another shape). */
export async function restoreFeature(f: WindowedAggregator, descriptor: Buffer, each: EachRecord): Promise<number | string> {
  const d = new ByteReader(descriptor);
  const aggregation = d.str();
  const widths: number[] = [];
  for (let i = d.varint(); i > 0; i--) widths.push(d.f64());
  if (aggregation !== f.aggregator.name) return `aggregation changed from ${aggregation} to ${f.aggregator.name}`;
  const now = f.tileWidths();
  if (widths.length !== now.length || widths.some((w, i) => w !== now[i])) return `tile widths changed from [${widths.join(', ')}] to [${now.join(', ')}] (windows changed)`;
  const ir = irCodec(aggregation).read;
  const numeric = NUMERIC_IR.has(aggregation);
  const series = widths.length;
  f.clear();
  if (numeric && f.aggregator.scalar) {
    // Straight into the unboxed array the feature keeps: sized by a first pass over the
    // record's tile counts, then filled (a million entities restore without a copy each).
    return each((r) => {
      const key = r.str();
      const last = r.f64();
      const tiles = r.position;
      let length = 1;
      for (let s = 0; s < series; s++) {
        const n = r.varint();
        length += 1 + 2 * n;
        r.skip(16 * n);
      }
      r.seek(tiles);
      const slots = scalarArray(length);
      slots[0] = last;
      let i = 1;
      for (let s = 0; s < series; s++) {
        const n = r.varint();
        slots[i++] = n;
        for (let k = 2 * n; k > 0; k--) slots[i++] = r.f64();
      }
      f.loadScalar(key, slots);
    });
  }
  return each((r) => {
    const key = r.str();
    const slots: unknown[] = [r.f64()];
    for (let s = 0; s < series; s++) {
      const n = r.varint();
      slots.push(n);
      // Numeric IRs (most features) without a call per tile.
      if (numeric) for (let k = 0; k < n; k++) slots.push(r.f64(), r.f64());
      else for (let k = 0; k < n; k++) slots.push(r.f64(), ir(r));
    }
    f.load(key, slots);
  });
}

/** Loads a FHST section into the feature's kept events; a string says why it was not. */
export async function restoreFeatureHistory(f: WindowedAggregator | undefined, descriptor: Buffer, each: EachRecord): Promise<number | string> {
  const history = f?.history;
  const d = new ByteReader(descriptor);
  const aggregation = d.str();
  const weighted = !d.done && d.varint() === 1;
  if (f === undefined || history === undefined) return 'the pipeline declares no such feature with history';
  if (aggregation !== f.aggregator.name) return `aggregation changed from ${aggregation} to ${f.aggregator.name}`;
  return each((r) => {
    const key = r.str();
    const count = r.varint();
    const ts = new Array<number>(count);
    const values = new Array<number | string>(count);
    const weights = weighted ? new Array<number>(count) : undefined;
    for (let i = 0; i < count; i++) {
      ts[i] = r.f64();
      values[i] = readViewValue(r) as number | string;
      if (weights !== undefined) weights[i] = r.f64();
    }
    history.load(key, ts, values, weights);
  });
}
