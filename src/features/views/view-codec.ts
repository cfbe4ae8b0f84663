/**
 * The snapshot codec of views, next to their layout (view-store.ts):
 *
 *   VIEW <view>   descriptor frame: field names
 *                 records: key, updatedAt, per field: tagged value, ts (a vector(N) field's
 *                 value: tag F32, N, N float32; its index is rebuilt on restore)
 *   VHST <view>   (views with history:) descriptor frame: field names
 *                 records: key, record count, per record: ts, field index + 1 (0: the
 *                 upsert itself), tagged value
 *
 * Tagged values (also the values of a feature's kept events): null, number, string, false,
 * true, number list, float32 list. A field the pipeline no longer declares is dropped on restore.
 */
import { ByteReader, ByteWriter, type EachRecord } from '../../durability/binary.js';
import type { View, ViewValue } from './view-store.js';

const V_NULL = 0;
export const V_NUMBER = 1;
export const V_STRING = 2;
const V_FALSE = 3;
const V_TRUE = 4;
const V_NUMBERS = 5;
const V_F32 = 6;

/** The descriptor of both sections: the field names. */
export function viewDescriptor(v: View): Buffer {
  const d = new ByteWriter(256).varint(v.fieldNames.length);
  for (const f of v.fieldNames) d.str(f);
  return d.take();
}

/** Writes one entity of the VIEW section. */
export function viewRecord(view: View): (w: ByteWriter, e: [string, readonly ViewValue[]]) => void {
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

/** Writes one entity of the VHST section: its kept versions. */
export function viewHistoryRecord(w: ByteWriter, [key, records]: [string, readonly ViewValue[]]): void {
  w.str(key).varint(records.length / 3);
  for (let k = 0; k < records.length; k += 3) {
    w.f64(records[k] as number).varint((records[k + 1] as number) + 1);
    writeViewValue(w, records[k + 2]);
  }
}

export function writeViewValue(w: ByteWriter, v: ViewValue): void {
  if (v === null) w.u8(V_NULL);
  else if (typeof v === 'number') w.u8(V_NUMBER).f64(v);
  else if (typeof v === 'string') w.u8(V_STRING).str(v);
  else if (typeof v === 'boolean') w.u8(v ? V_TRUE : V_FALSE);
  else {
    w.u8(V_NUMBERS).varint(v.length);
    for (const x of v) w.f64(x);
  }
}

export function readViewValue(r: ByteReader): ViewValue {
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

/** Loads a VIEW section into the (emptied) view; fields are matched by name. */
export async function restoreView(v: View, descriptor: Buffer, each: EachRecord): Promise<number> {
  const d = new ByteReader(descriptor);
  const names: string[] = [];
  for (let i = d.varint(); i > 0; i--) names.push(d.str());
  // Snapshot field i goes to slot position of the same name now (-1: field dropped).
  const target = names.map((n) => v.indexOf(n));
  const fields = v.fieldNames.length;
  v.clear();
  v.beginLoad();
  const n = await each((r) => {
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

/** Loads a VHST section into the view's kept versions. */
export async function restoreViewHistory(v: View, descriptor: Buffer, each: EachRecord): Promise<number> {
  const d = new ByteReader(descriptor);
  const target: number[] = [];
  for (let i = d.varint(); i > 0; i--) target.push(v.indexOf(d.str()));
  return each((r) => {
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
