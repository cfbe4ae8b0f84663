/**
 * Store codecs: how each store becomes snapshot sections and comes back.
 *
 *   FEAT <feature>   descriptor frame: aggregation, tile width per series
 *                    records: key, lastEventAt, per series: tile count, (tile index, IR)*
 *   FHST <feature>   (features with history:) descriptor frame: aggregation
 *                    records: key, event count, per event in applied order: ts, tagged value
 *   VIEW <view>      descriptor frame: field names
 *                    records: key, updatedAt, per field: tagged value, ts (a vector(N)
 *                    field's value: tag F32, N, N float32; its index is rebuilt on restore)
 *   VHST <view>      (views with history:) descriptor frame: field names
 *                    records: key, record count, per record: ts, field index + 1 (0: the
 *                    upsert itself), tagged value
 *   LBRD <board>     descriptor frame: mode, period, version counter, latest period,
 *                    per period: start, version, member count; record format (varint)
 *                    records (periods in order): member, score, updatedAt, order, changedAt
 *                    (format 1, a descriptor that ends before the record format, has no
 *                    changedAt: its members restore with no change time)
 *   GEO_ <index>     descriptor frame: fence names
 *                    records: member, lat, lon, lastSeen, fences inside (indexes)
 *
 * IRs by aggregation: count/sum/min/max one f64; avg sum, count; last ts, value; distinct
 * 0 + hashes (sparse) or 1 + 4096 registers; quantile the DDSketch state (summary numbers and
 * both dense stores); topk the Space-Saving summary: capacity, floor, item count, (item, count)*,
 * then 0, or 1 + one error per item (a tile keeps its own capacity, so a changed `k` applies
 * to new tiles). Writers fill a frame for at most SLICE_MS or FRAME_BYTES, hand it over
 * and yield to the event loop, so queries keep being answered while a snapshot is written.
 * Readers apply a frame at a time and yield likewise.
 *
 * A section whose store the pipeline no longer declares, or declares differently (another
 * aggregation, other tile widths, another leaderboard mode or period), is skipped and
 * reported: that store starts empty rather than with state of another shape.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { HyperLogLog, QuantileSketch, SpaceSaving, scalarArray, type ViewStore, type ViewValue, type WindowedAggregator } from '../features/index.js';
import type { GeoCollection, GeoMemberState } from '../geo/index.js';
import type { Leaderboard, LeaderboardState } from '../leaderboard/index.js';
import type { StoreSet } from '../store-set.js';
import { ByteReader, ByteWriter } from './binary.js';
import type { SnapshotEncoder, ParsedSection } from './snapshot-format.js';
import { SECTION } from './snapshot-format.js';

/** Longest a writer or reader works before yielding: keeps event-loop pauses well under 50 ms. */
export const SLICE_MS = 8;
/** Frames are handed to the file at about this size. */
export const FRAME_BYTES = 1 << 20;
/**
 * Leaderboard record format written: 2 adds each member's change time. Format 1 (no format
 * number in the descriptor) is still read.
 */
const LEADERBOARD_RECORDS = 2;
/** Records between clock reads. */
const CHECK_EVERY = 256;

export type { StoreSet } from '../store-set.js';

/** Records (entities, members) written per section, keyed `TAG name`. */
export type SectionCounts = Record<string, number>;

/**
 * Writes every store as sections; returns the record count of each. With `keep`, only the
 * entities, members and geo members whose key it selects (one partition's state).
 */
export async function writeStores(enc: SnapshotEncoder, stores: StoreSet, keep?: (key: string) => boolean): Promise<SectionCounts> {
  const counts: SectionCounts = {};
  const only = <T>(records: Iterator<T>, keyOf: (r: T) => string): Iterator<T> =>
    keep === undefined
      ? records
      : (function* () {
          for (let r = records.next(); !r.done; r = records.next()) if (keep(keyOf(r.value))) yield r.value;
        })();
  const byKey = <V>(e: [string, V]) => e[0];
  for (const name of stores.features.names()) {
    const f = stores.features.feature(name);
    counts[`${SECTION.feature} ${name}`] = await section(enc, SECTION.feature, name, featureDescriptor(f), only(f.entries(), byKey), featureRecord(f));
    if (f.history !== undefined) {
      // The descriptor: aggregation, then 1 when each event carries its weight (topk).
      const weighted = f.history.weighted;
      counts[`${SECTION.featureHistory} ${name}`] = await section(enc, SECTION.featureHistory, name, new ByteWriter(64).str(f.aggregator.name).varint(weighted ? 1 : 0).take(), only(f.history.entries(), byKey), (w, [key, e]) => {
        w.str(key).varint(e.ts.length);
        for (let i = 0; i < e.ts.length; i++) {
          const v = e.values[i];
          w.f64(e.ts[i]);
          if (typeof v === 'number') w.u8(V_NUMBER).f64(v);
          else w.u8(V_STRING).str(v);
          if (weighted) w.f64(e.weights![i]);
        }
      });
    }
  }
  for (const name of stores.views.names()) {
    const v = stores.views.view(name);
    const d = new ByteWriter(256).varint(v.fieldNames.length);
    for (const f of v.fieldNames) d.str(f);
    const descriptor = d.take();
    counts[`${SECTION.view} ${name}`] = await section(enc, SECTION.view, name, descriptor, only(v.entries(), byKey), viewRecord(v));
    if (v.historyMs > 0) {
      counts[`${SECTION.viewHistory} ${name}`] = await section(enc, SECTION.viewHistory, name, descriptor, only(v.versionEntries(), byKey), (w, [key, records]) => {
        w.str(key).varint(records.length / 3);
        for (let k = 0; k < records.length; k += 3) {
          w.f64(records[k] as number).varint((records[k + 1] as number) + 1);
          writeViewValue(w, records[k + 2]);
        }
      });
    }
  }
  for (const board of stores.leaderboards) {
    const head = board.snapshotHead();
    // One partition's members: each period's, selected (the descriptor counts them per period).
    const kept = keep === undefined ? undefined : head.periods.map((p) => [...board.entries(p.start)].filter((r) => keep(r.member)));
    const d = new ByteWriter(256).str(board.mode).str(board.period).f64(head.version).f64(head.latest ?? Number.NaN).varint(head.periods.length);
    head.periods.forEach((p, i) => d.f64(p.start).f64(p.version).varint(kept === undefined ? p.size : kept[i].length));
    d.varint(LEADERBOARD_RECORDS);
    const members = (function* () {
      for (let i = 0; i < head.periods.length; i++) yield* kept === undefined ? board.entries(head.periods[i].start) : kept[i];
    })();
    counts[`${SECTION.leaderboard} ${board.name}`] = await section(enc, SECTION.leaderboard, board.name, d.take(), members, (w, r) => {
      w.str(r.member).f64(r.score).f64(r.updatedAt).f64(r.order).f64(r.changedAt ?? Number.NaN);
    });
  }
  for (const c of stores.geo) {
    const fences = c.fenceNames;
    const d = new ByteWriter(256).varint(fences.length);
    for (const f of fences) d.str(f);
    const fenceIndex = new Map(fences.map((f, i) => [f, i]));
    counts[`${SECTION.geo} ${c.name}`] = await section(enc, SECTION.geo, c.name, d.take(), only(c.entries(), (m) => m.member), (w, m) => {
      w.str(m.member).f64(m.lat).f64(m.lon).f64(m.lastSeen).varint(m.fences.length);
      for (const f of m.fences) w.varint(fenceIndex.get(f)!);
    });
  }
  return counts;
}

/** One section: the descriptor frame, then records in time-sliced frames. Returns the record count. */
async function section<T>(enc: SnapshotEncoder, tag: string, name: string, descriptor: Buffer, records: Iterator<T>, write: (w: ByteWriter, r: T) => void): Promise<number> {
  let count = 0;
  async function* frames(): AsyncGenerator<Buffer> {
    yield descriptor;
    const w = new ByteWriter(FRAME_BYTES + (FRAME_BYTES >> 2));
    let started = performance.now();
    for (;;) {
      const next = records.next();
      if (next.done) break;
      write(w, next.value);
      count++;
      if (w.length >= FRAME_BYTES || (count % CHECK_EVERY === 0 && performance.now() - started >= SLICE_MS)) {
        yield w.take();
        await nextTurn();
        started = performance.now();
      }
    }
    if (w.length > 0) yield w.take();
  }
  await enc.section(tag, name, frames());
  return count;
}

function featureDescriptor(f: WindowedAggregator): Buffer {
  const widths = f.tileWidths();
  const d = new ByteWriter(256).str(f.aggregator.name).varint(widths.length);
  for (const w of widths) d.f64(w);
  return d.take();
}

/** Aggregations whose IR is one number. */
const NUMERIC_IR = new Set(['count', 'sum', 'min', 'max']);

type IrWriter = (w: ByteWriter, ir: unknown) => void;
type IrReader = (r: ByteReader) => unknown;

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

function featureRecord(f: WindowedAggregator): (w: ByteWriter, e: [string, readonly unknown[]]) => void {
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

const V_NULL = 0;
const V_NUMBER = 1;
const V_STRING = 2;
const V_FALSE = 3;
const V_TRUE = 4;
const V_NUMBERS = 5;
const V_F32 = 6;

function viewRecord(view: ReturnType<ViewStore['view']>): (w: ByteWriter, e: [string, readonly ViewValue[]]) => void {
  const fields = view.fieldNames.length;
  const vectors = view.fieldNames.map((_, i) => view.vectorIndex(i));
  return (w, [key, slots]) => {
    w.str(key).f64(slots[0] as number);
    for (let i = 0; i < fields; i++) {
      const v = slots[1 + 2 * i];
      const index = vectors[i];
      if (v !== null && index !== undefined) {
        const vector = index.view(v as number);
        w.u8(V_F32).varint(vector.length);
        for (let j = 0; j < vector.length; j++) w.f32(vector[j]);
      } else writeViewValue(w, v);
      w.f64(slots[2 + 2 * i] as number);
    }
  };
}

function writeViewValue(w: ByteWriter, v: ViewValue): void {
  if (v === null) w.u8(V_NULL);
  else if (typeof v === 'number') w.u8(V_NUMBER).f64(v);
  else if (typeof v === 'string') w.u8(V_STRING).str(v);
  else if (typeof v === 'boolean') w.u8(v ? V_TRUE : V_FALSE);
  else {
    w.u8(V_NUMBERS).varint(v.length);
    for (const x of v) w.f64(x);
  }
}

function readViewValue(r: ByteReader): ViewValue {
  const tag = r.u8();
  switch (tag) {
    case V_NULL:
      return null;
    case V_NUMBER:
      return r.f64();
    case V_STRING:
      return r.str();
    case V_FALSE:
      return false;
    case V_TRUE:
      return true;
    case V_NUMBERS: {
      const n = r.varint();
      const out = new Array<number>(n);
      for (let i = 0; i < n; i++) out[i] = r.f64();
      return out;
    }
    case V_F32: {
      const n = r.varint();
      const out = new Array<number>(n);
      for (let i = 0; i < n; i++) out[i] = r.f32();
      return out;
    }
    default:
      throw new RangeError(`unknown view value tag ${tag}`);
  }
}

export interface RestoreReport {
  /** Records restored per section, keyed `TAG name`. */
  counts: SectionCounts;
  /** Sections not restored, with the reason. */
  skipped: string[];
}

/**
 * Loads store sections into empty stores, a frame at a time with a yield between frames.
 * Throws (a RangeError from the reader) on a malformed record: the caller has checked the
 * checksums, so that means a writer bug, and start-up must not go on with half a store.
 */
export async function restoreStores(sections: readonly ParsedSection[], stores: StoreSet): Promise<RestoreReport> {
  const report: RestoreReport = { counts: {}, skipped: [] };
  for (const s of sections) {
    const key = `${s.tag} ${s.name}`;
    const [descriptor, ...frames] = s.frames;
    if (descriptor === undefined) throw new RangeError(`${key}: no descriptor frame`);
    let skip: string | undefined;
    let n = 0;
    switch (s.tag) {
      case SECTION.feature:
        if (!stores.features.has(s.name)) skip = 'the pipeline declares no such feature';
        else {
          const r = await restoreFeature(stores.features.feature(s.name), descriptor, frames);
          if (typeof r === 'string') skip = r;
          else n = r;
        }
        break;
      case SECTION.view:
        if (!stores.views.has(s.name)) skip = 'the pipeline declares no such view';
        else n = await restoreView(stores.views.view(s.name), descriptor, frames);
        break;
      case SECTION.featureHistory: {
        const f = stores.features.has(s.name) ? stores.features.feature(s.name) : undefined;
        const history = f?.history;
        const d = new ByteReader(descriptor);
        const aggregation = d.str();
        const weighted = !d.done && d.varint() === 1;
        if (f === undefined || history === undefined) skip = 'the pipeline declares no such feature with history';
        else if (aggregation !== f.aggregator.name) skip = `aggregation changed from ${aggregation} to ${f.aggregator.name}`;
        else {
          n = await eachRecord(frames, (r) => {
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
        break;
      }
      case SECTION.viewHistory: {
        const v = stores.views.has(s.name) ? stores.views.view(s.name) : undefined;
        if (v === undefined || v.historyMs <= 0) skip = 'the pipeline declares no such view with history';
        else {
          const d = new ByteReader(descriptor);
          const target: number[] = [];
          for (let i = d.varint(); i > 0; i--) target.push(v.indexOf(d.str()));
          n = await eachRecord(frames, (r) => {
            const key = r.str();
            const records: ViewValue[] = [];
            for (let k = r.varint(); k > 0; k--) {
              const ts = r.f64();
              const field = r.varint() - 1;
              const value = readViewValue(r);
              const index = field < 0 ? -1 : (target[field] ?? -1);
              // A field the view no longer declares is dropped; the upsert marker stays.
              if (field >= 0 && index < 0) continue;
              records.push(ts, index, value);
            }
            v.loadVersions(key, records);
          });
        }
        break;
      }
      case SECTION.leaderboard: {
        const board = stores.leaderboards.get(s.name);
        if (board === undefined) skip = 'the pipeline declares no such leaderboard';
        else {
          const r = await restoreLeaderboard(board, descriptor, frames);
          if (typeof r === 'string') skip = r;
          else n = r;
        }
        break;
      }
      case SECTION.geo: {
        const c = stores.geo.get(s.name);
        if (c === undefined) skip = 'the pipeline declares no such geo index';
        else n = await restoreGeo(c, descriptor, frames);
        break;
      }
      default:
        skip = 'unknown section';
    }
    if (skip !== undefined) report.skipped.push(`${key}: ${skip}`);
    else report.counts[key] = n;
  }
  return report;
}

async function eachRecord(frames: readonly Buffer[], read: (r: ByteReader) => void): Promise<number> {
  let n = 0;
  let started = performance.now();
  for (const frame of frames) {
    const r = new ByteReader(frame);
    while (!r.done) {
      read(r);
      n++;
      if (n % CHECK_EVERY === 0 && performance.now() - started >= SLICE_MS) {
        await nextTurn();
        started = performance.now();
      }
    }
  }
  return n;
}

async function restoreFeature(f: WindowedAggregator, descriptor: Buffer, frames: readonly Buffer[]): Promise<number | string> {
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
    return eachRecord(frames, (r) => {
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
  return eachRecord(frames, (r) => {
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

async function restoreView(v: ReturnType<ViewStore['view']>, descriptor: Buffer, frames: readonly Buffer[]): Promise<number> {
  const d = new ByteReader(descriptor);
  const names: string[] = [];
  for (let i = d.varint(); i > 0; i--) names.push(d.str());
  // Snapshot field i goes to slot position of the same name now (-1: field dropped).
  const target = names.map((n) => v.indexOf(n));
  const fields = v.fieldNames.length;
  v.clear();
  v.beginLoad();
  const n = await eachRecord(frames, (r) => {
    const key = r.str();
    const slots = new Array<ViewValue>(1 + 2 * fields).fill(null);
    slots[0] = r.f64();
    for (let i = 0; i < fields; i++) slots[2 + 2 * i] = Number.NEGATIVE_INFINITY;
    for (let i = 0; i < names.length; i++) {
      const value = readViewValue(r);
      const ts = r.f64();
      const j = target[i];
      if (j < 0) continue;
      slots[1 + 2 * j] = value;
      slots[2 + 2 * j] = ts;
    }
    v.load(key, slots);
  });
  // The vector fields' graphs, built from the restored vectors a batch at a time.
  await v.finishLoad();
  return n;
}

async function restoreLeaderboard(board: Leaderboard, descriptor: Buffer, frames: readonly Buffer[]): Promise<number | string> {
  const d = new ByteReader(descriptor);
  const mode = d.str();
  const period = d.str();
  if (mode !== board.mode || period !== board.period) return `mode/period changed from ${mode}/${period} to ${board.mode}/${board.period}`;
  const version = d.f64();
  const latest = d.f64();
  const periods: { start: number; version: number; size: number }[] = [];
  for (let i = d.varint(); i > 0; i--) periods.push({ start: d.f64(), version: d.f64(), size: d.varint() });
  const format = d.done ? 1 : d.varint();
  if (format > LEADERBOARD_RECORDS) return `record format ${format} is newer than this build reads (${LEADERBOARD_RECORDS})`;
  const state: LeaderboardState = { name: board.name, version, latest: Number.isNaN(latest) ? null : latest, periods: periods.map((p) => ({ start: p.start, version: p.version, entries: [] })) };
  let p = 0;
  const n = await eachRecord(frames, (r) => {
    while (p < periods.length && state.periods[p].entries.length >= periods[p].size) p++;
    if (p >= periods.length) throw new RangeError(`leaderboard "${board.name}": more members than its periods hold`);
    state.periods[p].entries.push({ member: r.str(), score: r.f64(), updatedAt: r.f64(), order: r.f64(), changedAt: format >= 2 ? r.f64() : Number.NaN });
  });
  if (n !== periods.reduce((a, x) => a + x.size, 0)) throw new RangeError(`leaderboard "${board.name}": ${n} members, the descriptor says ${periods.reduce((a, x) => a + x.size, 0)}`);
  board.restore(state);
  return n;
}

async function restoreGeo(c: GeoCollection, descriptor: Buffer, frames: readonly Buffer[]): Promise<number> {
  const d = new ByteReader(descriptor);
  const fences: string[] = [];
  for (let i = d.varint(); i > 0; i--) fences.push(d.str());
  let batch: GeoMemberState[] = [];
  const n = await eachRecord(frames, (r) => {
    const m: GeoMemberState = { member: r.str(), lat: r.f64(), lon: r.f64(), lastSeen: r.f64(), fences: [] };
    for (let k = r.varint(); k > 0; k--) {
      const f = fences[r.varint()];
      if (f === undefined) throw new RangeError(`geo index "${c.name}": fence index out of range`);
      m.fences.push(f);
    }
    batch.push(m);
    if (batch.length >= 1024) {
      c.restore(batch);
      batch = [];
    }
  });
  c.restore(batch);
  return n;
}
