/**
 * The snapshot file format, version 1: a header, sections, a footer; little-endian.
 *
 *   header   "TALLYSNP" | version u16 | flags u16 | createdAt f64 | crc32(header) u32     24 bytes
 *   section  tag 4 ASCII | name length u16 | name UTF-8
 *            frame*: length u32 (> 0) | bytes          (a frame holds whole records)
 *            0 u32                                     (end of frames)
 *            crc32(tag .. end of frames) u32
 *   footer   "END." | sections u32 | bytes before footer f64 | crc32(all bytes before) u32  20 bytes
 *
 * Sections are written as they are produced (a frame at a time), so the writer never holds a
 * whole snapshot in memory and can yield to the event loop between frames. A file is valid
 * only if every check holds: magic, supported version, header CRC, each section's CRC, the
 * footer (a torn write has none), its length and whole-file CRC, and no trailing bytes.
 * Which sections exist and what their frames hold is up to the store codecs (store-codec.ts);
 * META, OFFS (source offsets) and WMRK (watermarks) are small JSON documents, one frame each.
 */
import { crc32 } from 'node:zlib';

export const MAGIC = 'TALLYSNP';
export const FORMAT_VERSION = 1;
export const HEADER_BYTES = 24;
export const FOOTER_BYTES = 20;
const FOOTER_TAG = 'END.';
/** A frame longer than this is corruption, not data (frames are flushed at ~1 MiB). */
export const MAX_FRAME_BYTES = 1 << 30;

/** Section tags. */
export const SECTION = {
  meta: 'META',
  offsets: 'OFFS',
  watermarks: 'WMRK',
  feature: 'FEAT',
  /** A feature's kept events for as-of reads (`history:`). */
  featureHistory: 'FHST',
  view: 'VIEW',
  /** A view's kept versions for as-of reads (`history:`). */
  viewHistory: 'VHST',
  leaderboard: 'LBRD',
  geo: 'GEO_',
} as const;

export interface SnapshotHeader {
  magic: string;
  version: number;
  flags: number;
  /** Epoch ms. */
  createdAt: number;
}

export interface ParsedSection {
  tag: string;
  /** Store name ('' for META, OFFS, WMRK). */
  name: string;
  /** Byte offset of the section in the file. */
  offset: number;
  /** Section length in bytes, tag to CRC. */
  bytes: number;
  /** The frames' payloads (views into the file buffer). */
  frames: Buffer[];
  checksum: 'ok' | 'bad';
}

export interface ParseResult {
  header?: SnapshotHeader;
  sections: ParsedSection[];
  /** Whole-file checksum: 'missing' when the footer is absent (a torn write). */
  checksum: 'ok' | 'bad' | 'missing';
  /** Every problem found; empty for a valid file. */
  problems: string[];
}

/** Writes a snapshot as a stream of chunks handed to `sink`, keeping the running checksums. */
export class SnapshotEncoder {
  private crc = 0;
  private written = 0;
  private sections = 0;

  constructor(private readonly sink: (chunk: Buffer) => Promise<void>) {}

  private async emit(chunk: Buffer): Promise<void> {
    this.crc = crc32(chunk, this.crc);
    this.written += chunk.length;
    await this.sink(chunk);
  }

  async header(createdAt: number): Promise<void> {
    const h = Buffer.alloc(HEADER_BYTES);
    h.write(MAGIC, 0, 'latin1');
    h.writeUInt16LE(FORMAT_VERSION, 8);
    h.writeUInt16LE(0, 10);
    h.writeDoubleLE(createdAt, 12);
    h.writeUInt32LE(crc32(h.subarray(0, 20)), 20);
    await this.emit(h);
  }

  /** Writes one section whose frames come from `frames` (empty frames are skipped). */
  async section(tag: string, name: string, frames: Iterable<Buffer> | AsyncIterable<Buffer>): Promise<void> {
    if (tag.length !== 4 || tag === FOOTER_TAG) throw new RangeError(`bad section tag "${tag}"`);
    const nameBytes = Buffer.from(name, 'utf8');
    if (nameBytes.length > 0xffff) throw new RangeError(`section name of ${nameBytes.length} bytes`);
    const head = Buffer.alloc(6 + nameBytes.length);
    head.write(tag, 0, 'latin1');
    head.writeUInt16LE(nameBytes.length, 4);
    nameBytes.copy(head, 6);
    let sectionCrc = crc32(head);
    await this.emit(head);
    for await (const frame of frames) {
      if (frame.length === 0) continue;
      if (frame.length > MAX_FRAME_BYTES) throw new RangeError(`frame of ${frame.length} bytes`);
      const len = Buffer.alloc(4);
      len.writeUInt32LE(frame.length);
      sectionCrc = crc32(frame, crc32(len, sectionCrc));
      await this.emit(len);
      await this.emit(frame);
    }
    const tail = Buffer.alloc(8);
    tail.writeUInt32LE(0, 0);
    sectionCrc = crc32(tail.subarray(0, 4), sectionCrc);
    tail.writeUInt32LE(sectionCrc, 4);
    await this.emit(tail);
    this.sections++;
  }

  /** A section holding one JSON document. */
  json(tag: string, value: unknown): Promise<void> {
    return this.section(tag, '', [Buffer.from(JSON.stringify(value), 'utf8')]);
  }

  /** Writes the footer; returns the file's length and checksum. */
  async footer(): Promise<{ bytes: number; crc: number }> {
    const before = this.written;
    const crc = this.crc;
    const f = Buffer.alloc(FOOTER_BYTES);
    f.write(FOOTER_TAG, 0, 'latin1');
    f.writeUInt32LE(this.sections, 4);
    f.writeDoubleLE(before, 8);
    f.writeUInt32LE(crc, 16);
    await this.sink(f);
    this.written += FOOTER_BYTES;
    return { bytes: this.written, crc };
  }
}

/**
 * Checks and splits a whole snapshot file. Never throws: every problem is listed in
 * `problems` (the first one found per kind), and what could be read is returned.
 */
export function parseSnapshot(buf: Buffer): ParseResult {
  const problems: string[] = [];
  const sections: ParsedSection[] = [];
  if (buf.length === 0) return { sections, checksum: 'missing', problems: ['the file is empty'] };
  if (buf.length < HEADER_BYTES) {
    return { sections, checksum: 'missing', problems: [`the file has ${buf.length} bytes, fewer than a header (${HEADER_BYTES}): truncated`] };
  }
  const magic = buf.toString('latin1', 0, 8);
  if (magic !== MAGIC) return { sections, checksum: 'missing', problems: [`not a Tally snapshot (magic "${printable(magic)}", expected "${MAGIC}")`] };
  const header: SnapshotHeader = { magic, version: buf.readUInt16LE(8), flags: buf.readUInt16LE(10), createdAt: buf.readDoubleLE(12) };
  if (crc32(buf.subarray(0, 20)) !== buf.readUInt32LE(20)) {
    return { header, sections, checksum: 'missing', problems: ['header checksum mismatch'] };
  }
  if (header.version !== FORMAT_VERSION) {
    return { header, sections, checksum: 'missing', problems: [`unsupported format version ${header.version} (this build reads version ${FORMAT_VERSION})`] };
  }
  let pos = HEADER_BYTES;
  for (;;) {
    if (pos + 4 > buf.length) {
      problems.push(`truncated after ${sections.length} sections at byte ${pos}: no footer (torn write?)`);
      return { header, sections, checksum: 'missing', problems };
    }
    const tag = buf.toString('latin1', pos, pos + 4);
    if (tag === FOOTER_TAG) break;
    const section = parseSection(buf, pos, tag);
    if (typeof section === 'string') {
      problems.push(section);
      return { header, sections, checksum: 'missing', problems };
    }
    sections.push(section);
    if (section.checksum === 'bad') problems.push(`section ${tag} "${section.name}" at byte ${pos}: checksum mismatch`);
    pos += section.bytes;
  }
  if (pos + FOOTER_BYTES > buf.length) {
    problems.push(`truncated footer at byte ${pos} (torn write?)`);
    return { header, sections, checksum: 'missing', problems };
  }
  const count = buf.readUInt32LE(pos + 4);
  const before = buf.readDoubleLE(pos + 8);
  const fileCrc = buf.readUInt32LE(pos + 16);
  let checksum: ParseResult['checksum'] = 'ok';
  if (count !== sections.length) problems.push(`the footer counts ${count} sections, the file has ${sections.length}`);
  if (before !== pos) problems.push(`the footer says ${before} bytes precede it, ${pos} do`);
  if (crc32(buf.subarray(0, pos)) !== fileCrc) {
    checksum = 'bad';
    problems.push('file checksum mismatch');
  }
  if (pos + FOOTER_BYTES !== buf.length) problems.push(`${buf.length - pos - FOOTER_BYTES} unexpected bytes after the footer`);
  return { header, sections, checksum, problems };
}

function parseSection(buf: Buffer, start: number, tag: string): ParsedSection | string {
  const where = `section ${printable(tag)} at byte ${start}`;
  if (!/^[A-Z_.]{4}$/.test(tag)) return `${where}: not a section tag (corrupt)`;
  if (start + 6 > buf.length) return `${where}: truncated`;
  const nameLength = buf.readUInt16LE(start + 4);
  let pos = start + 6 + nameLength;
  if (pos > buf.length) return `${where}: truncated`;
  const name = buf.toString('utf8', start + 6, pos);
  const frames: Buffer[] = [];
  for (;;) {
    if (pos + 4 > buf.length) return `${where} "${name}": truncated in frame ${frames.length} (torn write?)`;
    const len = buf.readUInt32LE(pos);
    pos += 4;
    if (len === 0) break;
    if (len > MAX_FRAME_BYTES || pos + len > buf.length) return `${where} "${name}": frame ${frames.length} of ${len} bytes runs past the end (truncated or corrupt)`;
    frames.push(buf.subarray(pos, pos + len));
    pos += len;
  }
  if (pos + 4 > buf.length) return `${where} "${name}": truncated before its checksum`;
  const ok = crc32(buf.subarray(start, pos)) === buf.readUInt32LE(pos);
  pos += 4;
  return { tag, name, offset: start, bytes: pos - start, frames, checksum: ok ? 'ok' : 'bad' };
}

function printable(s: string): string {
  return s.replace(/[^\x20-\x7e]/g, '?');
}
