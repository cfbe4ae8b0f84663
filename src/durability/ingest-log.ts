/**
 * IngestLog: the append-only log of events taken in over HTTP/GraphQL, in the spirit of the
 * Redis AOF. Each ingest call is one record, appended before its events are applied, and
 * replayed after the snapshot on start, so the same calls meet the same state again.
 *
 *   <dataDir>/log/ingest-<first sequence number, 16 digits>.log     one segment
 *   record   length u32 | crc32(payload) u32 | payload
 *   payload  seq f64 | arrival f64 | source (varint length + UTF-8) | events as JSON (UTF-8)
 *
 * Sequence numbers start at 1 and increase by one per record; a snapshot records the last
 * one it reflects (META.logSeq). A new segment starts at each snapshot, and a segment is
 * deleted only when every record in it is covered by the oldest snapshot kept, so falling
 * back to an older snapshot still finds every later record.
 *
 * Flushing (TALLY_FSYNC): `always` — the caller awaits sync(seq) before acknowledging, and
 * concurrent callers share one fdatasync (group commit); `everysec` — an fdatasync once a
 * second, so a crash (of the machine, not only the process) may lose the last second.
 * Appends are synchronous writes (page cache), so records are in the file in the order
 * their events were applied.
 *
 * Opening scans every segment: a torn record at the end of the last one (a crash mid-append;
 * never acknowledged under `always`) is cut off; any other bad record stops start-up with
 * its file and position, as replaying around a hole would give silently wrong state.
 */
import { closeSync, fdatasync, fsyncSync, ftruncateSync, mkdirSync, openSync, readdirSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { crc32 } from 'node:zlib';
import { ByteReader, ByteWriter } from './binary.js';

export type FsyncPolicy = 'always' | 'everysec';

export interface LogRecord {
  seq: number;
  /** Arrival time (epoch ms) of the original call: the router's clock for these events. */
  arrival: number;
  source: string;
  events: unknown[];
}

export class IngestLogCorruptError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'IngestLogCorruptError';
  }
}

/** Bytes before a record's payload. */
const RECORD_HEAD = 8;
const SEGMENT = /^ingest-(\d{16})\.log$/;
const segmentName = (firstSeq: number) => `ingest-${String(firstSeq).padStart(16, '0')}.log`;
/** Records applied between yields during replay. */
const REPLAY_BATCH = 256;

interface Segment {
  firstSeq: number;
  path: string;
}

export class IngestLog {
  private fd = -1;
  private segments: Segment[] = [];
  private last = 0;
  private durable = 0;
  private syncing: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly writer = new ByteWriter(64 * 1024);

  private constructor(
    readonly dir: string,
    readonly fsync: FsyncPolicy,
  ) {}

  /** Opens (creating) the log in `dir`, checks it and cuts a torn tail; `onRepair` hears about a cut. */
  static open(dir: string, fsync: FsyncPolicy, onRepair: (message: string) => void = () => undefined): IngestLog {
    mkdirSync(dir, { recursive: true });
    const log = new IngestLog(dir, fsync);
    log.segments = readdirSync(dir)
      .map((n) => ({ m: SEGMENT.exec(n), n }))
      .filter((x) => x.m !== null)
      .map((x) => ({ firstSeq: Number(x.m![1]), path: join(dir, x.n) }))
      .sort((a, b) => a.firstSeq - b.firstSeq);
    let expected = log.segments[0]?.firstSeq ?? 1;
    for (let i = 0; i < log.segments.length; i++) {
      const seg = log.segments[i];
      if (seg.firstSeq !== expected) throw new IngestLogCorruptError(`${seg.path}: starts at record ${seg.firstSeq}, expected ${expected} (a segment is missing)`);
      const scan = scanSegment(readFileSync(seg.path), expected);
      if (scan.problem !== undefined) {
        if (i < log.segments.length - 1) throw new IngestLogCorruptError(`${seg.path}: ${scan.problem} at byte ${scan.goodBytes}; move the log aside to start without it`);
        const fd = openSync(seg.path, 'r+');
        ftruncateSync(fd, scan.goodBytes);
        fsyncSync(fd);
        closeSync(fd);
        onRepair(`${seg.path}: ${scan.problem} at byte ${scan.goodBytes}; cut off (a record torn by a crash)`);
      }
      expected = scan.nextSeq;
    }
    log.last = expected - 1;
    log.durable = log.last;
    if (log.segments.length === 0) log.segments.push({ firstSeq: 1, path: join(dir, segmentName(1)) });
    log.fd = openSync(log.segments.at(-1)!.path, 'a');
    if (fsync === 'everysec') {
      log.timer = setInterval(() => void log.flush().catch(() => undefined), 1_000);
      log.timer.unref();
    }
    return log;
  }

  /** Sequence number of the last record appended (0: none). */
  get lastSeq(): number {
    return this.last;
  }

  /** Appends one ingest call and returns its sequence number; the bytes are in the page cache. */
  append(source: string, events: unknown[], arrival: number): number {
    if (this.fd < 0) throw new Error('the ingest log is closed');
    const seq = this.last + 1;
    const w = this.writer;
    w.u32(0).u32(0).f64(seq).f64(arrival).str(source).bytes(Buffer.from(JSON.stringify(events), 'utf8'));
    const rec = w.take();
    rec.writeUInt32LE(rec.length - RECORD_HEAD, 0);
    rec.writeUInt32LE(crc32(rec.subarray(RECORD_HEAD)), 4);
    let off = 0;
    while (off < rec.length) off += writeSync(this.fd, rec, off, rec.length - off);
    this.last = seq;
    return seq;
  }

  /** Resolves once record `seq` (and every one before it) is on disk. */
  async sync(seq: number): Promise<void> {
    while (this.durable < seq) {
      this.syncing ??= this.datasync();
      await this.syncing;
    }
  }

  /** Flushes everything appended so far. */
  flush(): Promise<void> {
    return this.sync(this.last);
  }

  private async datasync(): Promise<void> {
    const upto = this.last;
    const fd = this.fd;
    try {
      await new Promise<void>((resolve, reject) => fdatasync(fd, (err) => (err ? reject(err) : resolve())));
      this.durable = Math.max(this.durable, upto);
    } finally {
      this.syncing = undefined;
    }
  }

  /**
   * Starts a new segment after the last record (no-op when the current one is empty), so
   * older records can later be deleted a whole segment at a time. Call with appends stopped.
   */
  async rotate(): Promise<void> {
    const current = this.segments.at(-1)!;
    if (current.firstSeq > this.last) return;
    await this.flush();
    closeSync(this.fd);
    const next = { firstSeq: this.last + 1, path: join(this.dir, segmentName(this.last + 1)) };
    this.fd = openSync(next.path, 'a');
    this.segments.push(next);
    syncDirSync(this.dir);
  }

  /**
   * Makes `seq` the last sequence number when the log is behind it (its files were lost
   * while a snapshot covering `seq` survived): every record kept is covered, so the
   * segments go and the next record is seq + 1, which replay after that snapshot will see.
   */
  async advanceTo(seq: number): Promise<void> {
    if (seq <= this.last) return;
    await this.flush();
    closeSync(this.fd);
    for (const s of this.segments) unlinkSync(s.path);
    this.last = seq;
    this.durable = seq;
    this.segments = [{ firstSeq: seq + 1, path: join(this.dir, segmentName(seq + 1)) }];
    this.fd = openSync(this.segments[0].path, 'a');
    syncDirSync(this.dir);
  }

  /** Deletes the segments whose every record is <= `seq`; returns how many. */
  truncate(seq: number): number {
    let removed = 0;
    while (this.segments.length > 1 && this.segments[1].firstSeq <= seq + 1) {
      unlinkSync(this.segments.shift()!.path);
      removed++;
    }
    return removed;
  }

  /** Sequence number of the oldest record kept (lastSeq + 1 when empty). */
  get firstSeq(): number {
    return this.segments[0]?.firstSeq ?? this.last + 1;
  }

  /**
   * Calls `apply` for every record after `afterSeq`, in order, yielding to the event loop
   * every REPLAY_BATCH records; returns how many records were applied. Throws when records
   * after `afterSeq` have been deleted already (the snapshot is older than the log).
   */
  async replay(afterSeq: number, apply: (r: LogRecord) => void): Promise<number> {
    if (afterSeq + 1 < this.firstSeq && this.last > afterSeq) {
      throw new IngestLogCorruptError(`the ingest log starts at record ${this.firstSeq}, but the snapshot covers only up to ${afterSeq}`);
    }
    let n = 0;
    for (const seg of [...this.segments]) {
      const next = this.segments[this.segments.indexOf(seg) + 1];
      if (next !== undefined && next.firstSeq <= afterSeq + 1) continue;
      const buf = readFileSync(seg.path);
      const r = new ByteReader(buf);
      while (!r.done) {
        const rec = readRecord(buf, r);
        if (rec === undefined) break;
        if (rec.seq <= afterSeq) continue;
        apply(rec);
        if (++n % REPLAY_BATCH === 0) await nextTurn();
      }
    }
    return n;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    if (this.fd < 0) return;
    await this.flush();
    closeSync(this.fd);
    this.fd = -1;
  }
}

/** Walks a segment: how many bytes hold good consecutive records, and the first problem. */
function scanSegment(buf: Buffer, firstSeq: number): { goodBytes: number; nextSeq: number; problem?: string } {
  const r = new ByteReader(buf);
  let expected = firstSeq;
  let good = 0;
  while (!r.done) {
    let rec: LogRecord | undefined;
    try {
      rec = readRecord(buf, r);
    } catch (err) {
      return { goodBytes: good, nextSeq: expected, problem: (err as Error).message };
    }
    if (rec === undefined) return { goodBytes: good, nextSeq: expected, problem: 'truncated record' };
    if (rec.seq !== expected) return { goodBytes: good, nextSeq: expected, problem: `record ${rec.seq} where ${expected} was expected` };
    expected++;
    good = r.position;
  }
  return { goodBytes: good, nextSeq: expected };
}

/** Reads one record at the reader's position; undefined when the buffer ends inside it. Throws on a bad checksum. */
function readRecord(buf: Buffer, r: ByteReader): LogRecord | undefined {
  const start = r.position;
  if (buf.length - start < RECORD_HEAD) return undefined;
  const len = r.u32();
  const crc = r.u32();
  if (buf.length - r.position < len) return undefined;
  const payload = r.bytes(len);
  if (crc32(payload) !== crc) throw new Error('record checksum mismatch');
  const p = new ByteReader(payload);
  const seq = p.f64();
  const arrival = p.f64();
  const source = p.str();
  const events = JSON.parse(payload.toString('utf8', p.position)) as unknown[];
  return { seq, arrival, source, events };
}

function syncDirSync(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Reads the ingest log in `dir` without opening it for writing (a running instance may be
 * appending): every complete record in order, a torn tail ignored. For tools (tally export).
 * Returns the sequence numbers read, first and last (0, 0 when empty).
 */
export async function readIngestLog(dir: string, apply: (r: LogRecord) => void): Promise<{ first: number; last: number }> {
  const segments = readdirSync(dir)
    .map((n) => SEGMENT.exec(n))
    .filter((m) => m !== null)
    .map((m) => ({ firstSeq: Number(m[1]), path: join(dir, m[0]) }))
    .sort((a, b) => a.firstSeq - b.firstSeq);
  let first = 0;
  let last = 0;
  let n = 0;
  for (const seg of segments) {
    if (last !== 0 && seg.firstSeq !== last + 1) throw new IngestLogCorruptError(`${seg.path}: starts at record ${seg.firstSeq}, expected ${last + 1} (a segment is missing)`);
    const buf = readFileSync(seg.path);
    const r = new ByteReader(buf);
    while (!r.done) {
      let rec: LogRecord | undefined;
      try {
        rec = readRecord(buf, r);
      } catch {
        rec = undefined;
      }
      if (rec === undefined) break;
      if (first === 0) first = rec.seq;
      last = rec.seq;
      apply(rec);
      if (++n % REPLAY_BATCH === 0) await nextTurn();
    }
  }
  return { first, last };
}
