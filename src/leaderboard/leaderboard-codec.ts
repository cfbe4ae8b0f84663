/**
 * The snapshot codec of leaderboards, next to their layout (leaderboard.ts, sorted-set.ts):
 *
 *   LBRD <board>   descriptor frame: mode, period, version counter, latest period, per period:
 *                  start, version, member count; record format (varint)
 *                  records (periods in order): member, score, updatedAt, order, changedAt
 *                  (format 1, a descriptor that ends before the record format, has no
 *                  changedAt: its members restore with no change time)
 *
 * With a key filter (one partition's state) each period's members are selected and counted
 * in the descriptor as written.
 */
import { ByteReader, ByteWriter, type EachRecord } from '../durability/binary.js';
import type { Leaderboard, LeaderboardState } from './leaderboard.js';

/** Record format written: 2 adds each member's change time. Format 1 (no format number in the descriptor) is still read. */
const LEADERBOARD_RECORDS = 2;

type Record = { member: string; score: number; updatedAt: number; order: number; changedAt?: number };

/** The descriptor and the records of a board's section (with `keep`, only the members it selects). */
export function leaderboardSection(board: Leaderboard, keep?: (member: string) => boolean): { descriptor: Buffer; records: Iterator<Record> } {
  const head = board.snapshotHead();
  // One partition's members: each period's, selected (the descriptor counts them per period).
  const kept = keep === undefined ? undefined : head.periods.map((p) => [...board.entries(p.start)].filter((r) => keep(r.member)));
  const d = new ByteWriter(256).str(board.mode).str(board.period).f64(head.version).f64(head.latest ?? Number.NaN).varint(head.periods.length);
  head.periods.forEach((p, i) => d.f64(p.start).f64(p.version).varint(kept === undefined ? p.size : kept[i].length));
  d.varint(LEADERBOARD_RECORDS);
  const records = (function* () {
    for (let i = 0; i < head.periods.length; i++) yield* kept === undefined ? board.entries(head.periods[i].start) : kept[i];
  })();
  return { descriptor: d.take(), records };
}

/** Writes one member of the section. */
export function leaderboardRecord(w: ByteWriter, r: Record): void {
  w.str(r.member).f64(r.score).f64(r.updatedAt).f64(r.order).f64(r.changedAt ?? Number.NaN);
}

/** Loads a LBRD section into the board; a string says why it was not (another mode or period, a newer format). */
export async function restoreLeaderboard(board: Leaderboard, descriptor: Buffer, each: EachRecord): Promise<number | string> {
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
  const n = await each((r) => {
    while (p < periods.length && state.periods[p].entries.length >= periods[p].size) p++;
    if (p >= periods.length) throw new RangeError(`leaderboard "${board.name}": more members than its periods hold`);
    state.periods[p].entries.push({ member: r.str(), score: r.f64(), updatedAt: r.f64(), order: r.f64(), changedAt: format >= 2 ? r.f64() : Number.NaN });
  });
  if (n !== periods.reduce((a, x) => a + x.size, 0)) throw new RangeError(`leaderboard "${board.name}": ${n} members, the descriptor says ${periods.reduce((a, x) => a + x.size, 0)}`);
  board.restore(state);
  return n;
}
