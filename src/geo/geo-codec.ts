/**
 * The snapshot codec of geo indexes, next to their layout (geo-store.ts):
 *
 *   GEO_ <index>   descriptor frame: fence names
 *                  records: member, lat, lon, lastSeen, fences inside (indexes)
 */
import { ByteReader, ByteWriter, type EachRecord } from '../durability/binary.js';
import type { GeoCollection, GeoMemberState } from './geo-store.js';

export function geoDescriptor(c: GeoCollection): Buffer {
  const d = new ByteWriter(256).varint(c.fenceNames.length);
  for (const f of c.fenceNames) d.str(f);
  return d.take();
}

/** Writes one member of the section. */
export function geoRecord(c: GeoCollection): (w: ByteWriter, m: GeoMemberState) => void {
  const fenceIndex = new Map(c.fenceNames.map((f, i) => [f, i]));
  return (w, m) => {
    w.str(m.member).f64(m.lat).f64(m.lon).f64(m.lastSeen).varint(m.fences.length);
    for (const f of m.fences) w.varint(fenceIndex.get(f)!);
  };
}

/** Loads a GEO_ section into the index, a batch of members at a time. */
export async function restoreGeo(c: GeoCollection, descriptor: Buffer, each: EachRecord): Promise<number> {
  const d = new ByteReader(descriptor);
  const fences: string[] = [];
  for (let i = d.varint(); i > 0; i--) fences.push(d.str());
  let batch: GeoMemberState[] = [];
  const n = await each((r) => {
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
