/**
 * Store codecs: how the store set becomes snapshot sections and comes back. Each store kind's
 * section (descriptor frame, record layout, restore) is defined next to its data layout:
 *
 *   FEAT, FHST   src/features/windows/feature-codec.ts
 *   VIEW, VHST   src/features/views/view-codec.ts
 *   LBRD         src/leaderboard/leaderboard-codec.ts
 *   GEO_         src/geo/geo-codec.ts
 *
 * This file walks the stores (all of them, or one partition's keys), frames their records
 * and reads sections back into the store of the same name. Writers fill a frame for at most
 * SLICE_MS or FRAME_BYTES, hand it over and yield to the event loop, so queries keep being
 * answered while a snapshot is written. Readers apply a frame at a time and yield likewise.
 *
 * A section whose store the pipeline no longer declares, or declares differently (another
 * aggregation, other tile widths, another leaderboard mode or period), is skipped and
 * reported: that store starts empty rather than with state of another shape.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { featureDescriptor, featureHistoryDescriptor, featureHistoryRecord, featureRecord, restoreFeature, restoreFeatureHistory } from '../features/windows/feature-codec.js';
import { restoreView, restoreViewHistory, viewDescriptor, viewHistoryRecord, viewRecord } from '../features/views/view-codec.js';
import { geoDescriptor, geoRecord, restoreGeo } from '../geo/geo-codec.js';
import { leaderboardRecord, leaderboardSection, restoreLeaderboard } from '../leaderboard/leaderboard-codec.js';
import type { StoreSet } from '../store-set.js';
import { ByteReader, ByteWriter, type EachRecord } from './binary.js';
import type { SnapshotEncoder, ParsedSection } from './snapshot-format.js';
import { SECTION } from './snapshot-format.js';

/** Longest a writer or reader works before yielding: keeps event-loop pauses well under 50 ms. */
export const SLICE_MS = 8;
/** Frames are handed to the file at about this size. */
export const FRAME_BYTES = 1 << 20;
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
      counts[`${SECTION.featureHistory} ${name}`] = await section(enc, SECTION.featureHistory, name, featureHistoryDescriptor(f, f.history), only(f.history.entries(), byKey), featureHistoryRecord(f.history));
    }
  }
  for (const name of stores.views.names()) {
    const v = stores.views.view(name);
    const descriptor = viewDescriptor(v);
    counts[`${SECTION.view} ${name}`] = await section(enc, SECTION.view, name, descriptor, only(v.entries(), byKey), viewRecord(v));
    if (v.historyMs > 0) counts[`${SECTION.viewHistory} ${name}`] = await section(enc, SECTION.viewHistory, name, descriptor, only(v.versionEntries(), byKey), viewHistoryRecord);
  }
  for (const board of stores.leaderboards) {
    const { descriptor, records } = leaderboardSection(board, keep);
    counts[`${SECTION.leaderboard} ${board.name}`] = await section(enc, SECTION.leaderboard, board.name, descriptor, records, leaderboardRecord);
  }
  for (const c of stores.geo) {
    counts[`${SECTION.geo} ${c.name}`] = await section(enc, SECTION.geo, c.name, geoDescriptor(c), only(c.entries(), (m) => m.member), geoRecord(c));
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
    const each: EachRecord = (read) => eachRecord(frames, read);
    let r: number | string;
    switch (s.tag) {
      case SECTION.feature:
        r = stores.features.has(s.name) ? await restoreFeature(stores.features.feature(s.name), descriptor, each) : 'the pipeline declares no such feature';
        break;
      case SECTION.featureHistory:
        r = await restoreFeatureHistory(stores.features.has(s.name) ? stores.features.feature(s.name) : undefined, descriptor, each);
        break;
      case SECTION.view:
        r = stores.views.has(s.name) ? await restoreView(stores.views.view(s.name), descriptor, each) : 'the pipeline declares no such view';
        break;
      case SECTION.viewHistory: {
        const v = stores.views.has(s.name) ? stores.views.view(s.name) : undefined;
        r = v !== undefined && v.historyMs > 0 ? await restoreViewHistory(v, descriptor, each) : 'the pipeline declares no such view with history';
        break;
      }
      case SECTION.leaderboard: {
        const board = stores.leaderboards.get(s.name);
        r = board !== undefined ? await restoreLeaderboard(board, descriptor, each) : 'the pipeline declares no such leaderboard';
        break;
      }
      case SECTION.geo: {
        const c = stores.geo.get(s.name);
        r = c !== undefined ? await restoreGeo(c, descriptor, each) : 'the pipeline declares no such geo index';
        break;
      }
      default:
        r = 'unknown section';
    }
    if (typeof r === 'string') report.skipped.push(`${key}: ${r}`);
    else report.counts[key] = r;
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
