/**
 * ByteWriter / ByteReader: the little-endian primitives snapshot sections are made of.
 *
 * The writer appends into one growable Buffer that a section flushes as a frame and then
 * reuses (`take()` copies the bytes out and rewinds), so a snapshot of a million entities
 * allocates a few frames, not a million small buffers. The reader walks a Buffer and throws
 * a RangeError on any read past its end, which the snapshot reader reports as corruption.
 *
 * Encodings: integers as LEB128 varints (lengths, counts), numbers as IEEE-754 float64,
 * strings as varint byte length + UTF-8.
 */

const INITIAL_CAPACITY = 64 * 1024;

export class ByteWriter {
  private buf: Buffer;
  private pos = 0;

  constructor(capacity = INITIAL_CAPACITY) {
    this.buf = Buffer.allocUnsafe(capacity);
  }

  /** Bytes written since the last take(). */
  get length(): number {
    return this.pos;
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  u8(v: number): this {
    this.ensure(1);
    this.buf[this.pos++] = v;
    return this;
  }

  u32(v: number): this {
    this.ensure(4);
    this.buf.writeUInt32LE(v >>> 0, this.pos);
    this.pos += 4;
    return this;
  }

  /** A non-negative safe integer as an LEB128 varint. */
  varint(v: number): this {
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`varint needs a non-negative safe integer, got ${v}`);
    this.ensure(8);
    while (v >= 0x80) {
      this.buf[this.pos++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.pos++] = v;
    return this;
  }

  f64(v: number): this {
    this.ensure(8);
    this.buf.writeDoubleLE(v, this.pos);
    this.pos += 8;
    return this;
  }

  f32(v: number): this {
    this.ensure(4);
    this.buf.writeFloatLE(v, this.pos);
    this.pos += 4;
    return this;
  }

  str(s: string): this {
    // At most 3 UTF-8 bytes per UTF-16 code unit.
    this.ensure(s.length * 3 + 8);
    const start = this.pos;
    // Reserve a 1-byte length for the common short string; move the bytes if it needs more.
    const written = this.buf.write(s, start + 1, 'utf8');
    if (written < 0x80) {
      this.buf[start] = written;
      this.pos = start + 1 + written;
      return this;
    }
    const bytes = Buffer.from(this.buf.subarray(start + 1, start + 1 + written));
    this.pos = start;
    this.varint(written);
    return this.bytes(bytes);
  }

  /** Raw bytes, without a length (write one first when the reader needs it). */
  bytes(b: Uint8Array): this {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
    return this;
  }

  /** A copy of the bytes written since the last take(); the writer starts over. */
  take(): Buffer {
    const out = Buffer.from(this.buf.subarray(0, this.pos));
    this.pos = 0;
    return out;
  }
}

export class ByteReader {
  private pos: number;
  private readonly end: number;
  private readonly view: DataView;

  constructor(
    private readonly buf: Buffer,
    start = 0,
    end = buf.length,
  ) {
    this.pos = start;
    this.end = end;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  get position(): number {
    return this.pos;
  }

  /** True when every byte has been read. */
  get done(): boolean {
    return this.pos >= this.end;
  }

  private need(n: number): void {
    if (this.pos + n > this.end) throw new RangeError(`read of ${n} bytes at ${this.pos} runs past the end (${this.end})`);
  }

  u8(): number {
    this.need(1);
    return this.buf[this.pos++];
  }

  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }

  varint(): number {
    let v = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      const b = this.u8();
      v += (b & 0x7f) * scale;
      if (b < 0x80) return v;
      scale *= 0x80;
    }
    throw new RangeError(`varint at ${this.pos} is longer than 8 bytes`);
  }

  f64(): number {
    this.need(8);
    const v = this.view.getFloat64(this.pos, true);
    this.pos += 8;
    return v;
  }

  f32(): number {
    this.need(4);
    const v = this.view.getFloat32(this.pos, true);
    this.pos += 4;
    return v;
  }

  str(): string {
    const n = this.varint();
    this.need(n);
    const s = this.buf.toString('utf8', this.pos, this.pos + n);
    this.pos += n;
    return s;
  }

  /** Moves past `n` bytes. */
  skip(n: number): void {
    this.need(n);
    this.pos += n;
  }

  /** Goes back to a `position` read earlier. */
  seek(position: number): void {
    if (position < 0 || position > this.end) throw new RangeError(`seek to ${position} outside 0..${this.end}`);
    this.pos = position;
  }

  /** `n` raw bytes as a view into the buffer (copy it to keep it). */
  bytes(n: number): Buffer {
    this.need(n);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
}

/**
 * Reads a section's records a frame at a time (yielding to the event loop between slices),
 * calling `read` once per record; resolves with the number read. Given by the snapshot
 * reader (store-codec.ts) to each store's codec.
 */
export type EachRecord = (read: (r: ByteReader) => void) => Promise<number>;
