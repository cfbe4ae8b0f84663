/**
 * Snapshot files on disk: reading and checking one file (readSnapshot, inspectSnapshot, also
 * the API of the `snapshot inspect` CLI) and the generations kept in `<dataDir>/snapshots/`.
 *
 * A generation is written to `snapshot-<generation>.tsnap.tmp`, fsynced, renamed to
 * `snapshot-<generation>.tsnap` and the directory fsynced (rename is atomic on POSIX file
 * systems), so a crash leaves either the previous generations alone or the new one complete;
 * a leftover `.tmp` is never read, and is deleted at the next start (removeLeftovers) and at
 * each prune. A file that fails its
 * checks at start-up is renamed `.corrupt` (kept for inspection) and the previous generation
 * is used instead.
 */
import { mkdir, open, readdir, readFile, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { parseSnapshot, SECTION, SnapshotEncoder, type ParsedSection, type SnapshotHeader } from './snapshot-format.js';
import type { DedupEntry } from '../ingest/repartition.js';

/** The META section: what a snapshot is. */
export interface SnapshotMeta {
  /** Increases by one per snapshot written into a data directory. */
  generation: number;
  /** Epoch ms when the stores were captured. */
  createdAt: number;
  /** What asked for it: interval, shutdown, admin, ... */
  reason: string;
  mode: 'kafka' | 'embedded';
  /** Sequence number of the last ingest-log record the stores reflect (0: none). */
  logSeq: number;
  /** sha256 of the pipeline definitions the stores were built from. */
  pipeline: string;
  /** Entities / members per store section, e.g. { "FEAT card_txn_count": 1200 }. */
  counts: Record<string, number>;
  /** In a cluster with a repartition topic: per partition of it, the newest update applied per origin (src/ingest/repartition.ts). */
  dedup?: { partition: number; entries: DedupEntry[] }[];
}

/** Source offset a snapshot reflects: the offset of the last applied message of a partition. */
export interface SourceOffset {
  topic: string;
  partition: number;
  /** Decimal string (Kafka offsets are 64-bit). */
  offset: string;
}

/** An event-time watermark (see src/ingest/watermarks.ts); partition -1 = HTTP ingest. */
export interface WatermarkState {
  source: string;
  partition: number;
  ts: number;
}

/** A valid snapshot, read and checked. */
export interface Snapshot {
  path: string;
  bytes: number;
  header: SnapshotHeader;
  meta: SnapshotMeta;
  offsets: SourceOffset[];
  watermarks: WatermarkState[];
  /** The store sections (FEAT, VIEW, LBRD, GEO_), in file order. */
  stores: ParsedSection[];
}

/** What `snapshot inspect` shows: everything readable, with every problem found. */
export interface SnapshotInspection {
  path: string;
  bytes: number;
  valid: boolean;
  problems: string[];
  header?: SnapshotHeader;
  /** 'missing' when the footer is absent (a torn write) or the file could not be walked. */
  checksum: 'ok' | 'bad' | 'missing';
  sections: { tag: string; name: string; offset: number; bytes: number; frames: number; checksum: 'ok' | 'bad' }[];
  meta?: SnapshotMeta;
  offsets?: SourceOffset[];
  watermarks?: WatermarkState[];
}

export class SnapshotCorruptError extends Error {
  constructor(
    readonly path: string,
    readonly problems: string[],
  ) {
    super(`snapshot ${path} is not valid: ${problems.join('; ')}`);
    this.name = 'SnapshotCorruptError';
  }
}

/** Reads and checks every byte of a snapshot file; never throws on bad content. */
export async function inspectSnapshot(path: string): Promise<SnapshotInspection> {
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch (err) {
    return { path, bytes: 0, valid: false, problems: [`cannot read: ${(err as Error).message}`], checksum: 'missing', sections: [] };
  }
  return inspectBuffer(path, buf).inspection;
}

/** Reads a snapshot file; throws SnapshotCorruptError listing every problem unless it is valid. */
export async function readSnapshot(path: string): Promise<Snapshot> {
  const buf = await readFile(path);
  const { inspection, parsed } = inspectBuffer(path, buf);
  if (!inspection.valid) throw new SnapshotCorruptError(path, inspection.problems);
  return {
    path,
    bytes: buf.length,
    header: inspection.header!,
    meta: inspection.meta!,
    offsets: inspection.offsets!,
    watermarks: inspection.watermarks!,
    stores: parsed.filter((s) => s.tag !== SECTION.meta && s.tag !== SECTION.offsets && s.tag !== SECTION.watermarks),
  };
}

function inspectBuffer(path: string, buf: Buffer): { inspection: SnapshotInspection; parsed: ParsedSection[] } {
  const parsed = parseSnapshot(buf);
  const problems = [...parsed.problems];
  const inspection: SnapshotInspection = {
    path,
    bytes: buf.length,
    valid: false,
    problems,
    header: parsed.header,
    checksum: parsed.checksum,
    sections: parsed.sections.map(({ tag, name, offset, bytes, frames, checksum }) => ({ tag, name, offset, bytes, frames: frames.length, checksum })),
  };
  const doc = <T>(tag: string): T | undefined => {
    const s = parsed.sections.find((x) => x.tag === tag);
    if (s === undefined) {
      if (parsed.checksum !== 'missing') problems.push(`no ${tag} section`);
      return undefined;
    }
    if (s.checksum !== 'ok' || s.frames.length !== 1) return undefined;
    try {
      return JSON.parse(s.frames[0].toString('utf8')) as T;
    } catch (err) {
      problems.push(`section ${tag}: ${(err as Error).message}`);
      return undefined;
    }
  };
  inspection.meta = doc<SnapshotMeta>(SECTION.meta);
  inspection.offsets = doc<SourceOffset[]>(SECTION.offsets);
  inspection.watermarks = doc<WatermarkState[]>(SECTION.watermarks);
  inspection.valid = problems.length === 0 && inspection.meta !== undefined && inspection.offsets !== undefined && inspection.watermarks !== undefined;
  return { inspection, parsed: parsed.sections };
}

const NAME = /^snapshot-(\d{12})\.tsnap$/;
/** A snapshot temp file: `snapshot-<generation>.tsnap.tmp` as create() names it, or any other `.tsnap.tmp`. */
const TEMP = /\.tsnap\.tmp$/;
const fileName = (generation: number) => `snapshot-${String(generation).padStart(12, '0')}.tsnap`;

export interface SnapshotFileInfo {
  generation: number;
  path: string;
}

/** A snapshot being written: an encoder over the temp file, then commit() or abort(). */
export interface PendingSnapshot {
  generation: number;
  encoder: SnapshotEncoder;
  /** fsync, rename into place, fsync the directory; returns the final path and size. */
  commit(): Promise<{ path: string; bytes: number }>;
  /** Closes and deletes the temp file. */
  abort(): Promise<void>;
}

/** Hooks for tests (never set in production): slow every chunk written. */
export interface WriteHooks {
  /** Milliseconds to wait after each chunk (TALLY_SNAPSHOT_WRITE_DELAY_MS). */
  chunkDelayMs?: number;
}

export class SnapshotDirectory {
  constructor(readonly dir: string) {}

  /** Committed generations, newest first. */
  async list(): Promise<SnapshotFileInfo[]> {
    const names = await readdir(this.dir).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return [] as string[];
      throw err;
    });
    const out: SnapshotFileInfo[] = [];
    for (const n of names) {
      const m = NAME.exec(n);
      if (m) out.push({ generation: Number(m[1]), path: join(this.dir, n) });
    }
    return out.sort((a, b) => b.generation - a.generation);
  }

  /** The next generation number: one more than any file here, corrupt ones included. */
  async nextGeneration(): Promise<number> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    let max = 0;
    for (const n of names) {
      const m = /^snapshot-(\d{12})\.tsnap/.exec(n);
      if (m) max = Math.max(max, Number(m[1]));
    }
    return max + 1;
  }

  /**
   * The newest snapshot that passes every check, and the newer ones that did not (each
   * renamed to `.corrupt`); snapshot undefined when there is none.
   */
  async loadNewest(): Promise<{ snapshot?: Snapshot; skipped: { path: string; problems: string[] }[] }> {
    const skipped: { path: string; problems: string[] }[] = [];
    for (const f of await this.list()) {
      try {
        return { snapshot: await readSnapshot(f.path), skipped };
      } catch (err) {
        const problems = err instanceof SnapshotCorruptError ? err.problems : [(err as Error).message];
        skipped.push({ path: f.path, problems });
        await rename(f.path, `${f.path}.corrupt`).catch(() => undefined);
      }
    }
    return { skipped };
  }

  /** Opens `snapshot-<generation>.tsnap.tmp` for writing (creating the directory if needed). */
  async create(generation: number, hooks: WriteHooks = {}): Promise<PendingSnapshot> {
    const final = join(this.dir, fileName(generation));
    const tmp = `${final}.tmp`;
    await mkdir(this.dir, { recursive: true });
    const handle: FileHandle = await open(tmp, 'w');
    let bytes = 0;
    const sink = async (chunk: Buffer): Promise<void> => {
      let off = 0;
      while (off < chunk.length) {
        const { bytesWritten } = await handle.write(chunk, off, chunk.length - off);
        off += bytesWritten;
      }
      bytes += chunk.length;
      if (hooks.chunkDelayMs) await new Promise((r) => setTimeout(r, hooks.chunkDelayMs));
    };
    let closed = false;
    return {
      generation,
      encoder: new SnapshotEncoder(sink),
      commit: async () => {
        await handle.sync();
        await handle.close();
        closed = true;
        await rename(tmp, final);
        await syncDirectory(this.dir);
        return { path: final, bytes };
      },
      abort: async () => {
        if (!closed) await handle.close().catch(() => undefined);
        await unlink(tmp).catch(() => undefined);
      },
    };
  }

  /**
   * Keeps the newest `keep` generations and deletes older ones, leftover temp files and
   * corrupt files older than the oldest kept generation. Returns the kept files.
   */
  async prune(keep: number): Promise<SnapshotFileInfo[]> {
    const all = await this.list();
    const kept = all.slice(0, keep);
    for (const f of all.slice(keep)) await unlink(f.path).catch(() => undefined);
    const oldest = kept.at(-1)?.generation ?? Infinity;
    for (const n of await readdir(this.dir).catch(() => [] as string[])) {
      const m = /^snapshot-(\d{12})\.tsnap\.corrupt$/.exec(n);
      if (TEMP.test(n) || (m && Number(m[1]) < oldest)) await unlink(join(this.dir, n)).catch(() => undefined);
    }
    return kept;
  }

  /**
   * Deletes the temp files of writes a crash interrupted (they are never read): every
   * `.tsnap.tmp` here, whatever the generation in its name. Returns how many were deleted.
   */
  async removeLeftovers(): Promise<number> {
    let n = 0;
    for (const name of await readdir(this.dir).catch(() => [] as string[])) {
      if (!TEMP.test(name)) continue;
      try {
        await unlink(join(this.dir, name));
        n++;
      } catch {
        // gone meanwhile, or not ours to delete: not counted
      }
    }
    return n;
  }

  /** The META of a snapshot, read from the start of the file only (undefined if unreadable). */
  async readMeta(path: string): Promise<SnapshotMeta | undefined> {
    try {
      const handle = await open(path, 'r');
      try {
        const size = (await stat(path)).size;
        const buf = Buffer.alloc(Math.min(size, 1 << 20));
        await handle.read(buf, 0, buf.length, 0);
        const meta = parseSnapshot(buf).sections.find((s) => s.tag === SECTION.meta);
        return meta && meta.checksum === 'ok' ? (JSON.parse(meta.frames[0].toString('utf8')) as SnapshotMeta) : undefined;
      } finally {
        await handle.close();
      }
    } catch {
      return undefined;
    }
  }
}

/** fsync of a directory, so a rename or a new file in it survives a power loss. */
export async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
