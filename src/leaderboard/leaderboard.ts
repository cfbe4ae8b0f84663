/*
 * Leaderboard: one SortedSet per UTC period (tumbling hour, day, ISO week from Monday
 * 00:00, or a single 'all' period), fed by events that carry their own time, queried
 * with 1-based ranks (1 = highest) as the GraphQL contract states.
 *
 * Why per-period sets rather than one set with timestamps: a period's ranking never
 * needs past events again, so rolling over is creating an empty set and dropping an old
 * one is O(1) to unlink. Each update goes to the period that contains its event time, so
 * replay after a restart rebuilds the same sets.
 *
 * Versions: every change to a period takes the next value of one counter per leaderboard,
 * so versions never repeat across periods and a subscriber holding (period, version) can
 * tell cheaply whether anything changed. Each period also keeps a monotonic stack of
 * (version, highest rank touched) from which "did the top N change since version v?" is
 * answered in O(log TOUCH_CAP) without reading the top N.
 *
 * Invariants: periods holds only starts within `keep` past periods of the latest period
 * seen by update() (older ones are dropped on roll-over and by expire); touch stacks have
 * strictly increasing versions and strictly increasing ranks from bottom to top.
 */
import { InputError } from '../input-error.js';
import { parseIsoTime } from '../pipeline/time.js';
import { SortedSet, type SortedSetRecord, type TieOrder } from './sorted-set.js';

export type LeaderboardMode = 'incr' | 'max' | 'set';
export type LeaderboardPeriod = 'all' | 'hour' | 'day' | 'week';
/** 'current', 'previous', or an ISO-8601 date/time inside the period ('2026-11-25', '2026-11-25T13:00:00Z'). */
export type PeriodRef = 'current' | 'previous' | (string & {});

export interface LeaderboardOptions {
  name: string;
  /** incr adds the event's score, max keeps the best, set keeps the latest. */
  mode: LeaderboardMode;
  period: LeaderboardPeriod;
  /** Past periods kept and queryable besides the current one; default 1. */
  keep?: number;
  /** Member TTL in ms: a member not updated (in event time) within ttlMs leaves at expire(). */
  ttlMs?: number;
  /** Equal scores: 'redis' (member bytes, as ZREVRANGE; default) or 'first' (first to reach it ranks higher). */
  ties?: TieOrder;
  /** Accepted for compatibility; the sorted sets draw no random levels any more. */
  seed?: number;
}

/** One ranked row: rank is 1-based, 1 = highest score. */
export interface LeaderboardEntry {
  rank: number;
  member: string;
  score: number;
  /**
   * Event time (epoch ms) of the update that last changed the member's score in this period
   * (see SortedSet); null for a member restored from a snapshot that did not keep it.
   */
  changedAt: number | null;
}

/** A sorted set's change time as a row carries it. */
const timeOrNull = (t: number | undefined): number | null => (t === undefined || Number.isNaN(t) ? null : t);

/** A period's state as a snapshot stores it. */
export interface PeriodState {
  /** Period start, epoch ms (0 for 'all'). */
  start: number;
  /** Version of the period's last change. */
  version: number;
  entries: SortedSetRecord[];
}

export interface LeaderboardState {
  name: string;
  /** The leaderboard's version counter. */
  version: number;
  /** Latest period start seen by update(), or null before the first update. */
  latest: number | null;
  periods: PeriodState[];
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const WEEK = 7 * DAY;
/** 1970-01-05T00:00Z, the first Monday of the epoch: ISO weeks start on Mondays. */
const FIRST_MONDAY = 4 * DAY;
/**
 * Ranks touched at or below this are recorded as this: the touch stack then holds at most
 * TOUCH_CAP + 1 entries, and "did the top N change?" is exact for any N <= TOUCH_CAP (a
 * dashboard shows far fewer rows). Larger N is answered conservatively.
 */
const TOUCH_CAP = 10_000;

class PeriodBoard {
  version: number;
  /** Touch stack: versions and highest 0-based ranks touched (see header). */
  private readonly touchVersion: number[] = [];
  private readonly touchRank: number[] = [];

  constructor(
    readonly start: number,
    readonly set: SortedSet,
    /** Version at which this period came to exist (or was restored). */
    readonly created: number,
  ) {
    this.version = created;
  }

  touch(version: number, rank: number): void {
    const r = rank < TOUCH_CAP ? rank : TOUCH_CAP;
    this.version = version;
    const tr = this.touchRank;
    while (tr.length > 0 && tr[tr.length - 1] >= r) {
      tr.pop();
      this.touchVersion.pop();
    }
    tr.push(r);
    this.touchVersion.push(version);
  }

  /** Highest 0-based rank touched after `version`, or Infinity when none. */
  touchedSince(version: number): number {
    const tv = this.touchVersion;
    let lo = 0;
    let hi = tv.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (tv[mid] > version) hi = mid;
      else lo = mid + 1;
    }
    return lo < tv.length ? this.touchRank[lo] : Infinity;
  }
}

export class Leaderboard {
  readonly name: string;
  readonly mode: LeaderboardMode;
  readonly period: LeaderboardPeriod;
  readonly keep: number;
  readonly ttlMs: number | undefined;
  readonly ties: TieOrder;
  private readonly seed: number;
  private readonly boards = new Map<number, PeriodBoard>();
  private latest = -Infinity;
  private counter = 0;
  /** Updates ignored because their period was older than the kept ones. */
  late = 0;

  constructor(options: LeaderboardOptions) {
    this.name = options.name;
    this.mode = options.mode;
    this.period = options.period;
    this.keep = options.keep ?? 1;
    if (!Number.isInteger(this.keep) || this.keep < 0) throw new RangeError(`keep must be a whole number >= 0, got ${options.keep}`);
    this.ttlMs = options.ttlMs;
    this.ties = options.ties ?? 'redis';
    this.seed = options.seed ?? 1;
    if (!['incr', 'max', 'set'].includes(this.mode)) throw new RangeError(`unknown mode "${this.mode}"`);
    if (!['all', 'hour', 'day', 'week'].includes(this.period)) throw new RangeError(`unknown period "${this.period}"`);
  }

  /** Start (epoch ms, UTC) of the period containing `ts`; 0 for 'all'. */
  periodStart(ts: number): number {
    switch (this.period) {
      case 'all':
        return 0;
      case 'hour':
        return Math.floor(ts / HOUR) * HOUR;
      case 'day':
        return Math.floor(ts / DAY) * DAY;
      case 'week':
        return Math.floor((ts - FIRST_MONDAY) / WEEK) * WEEK + FIRST_MONDAY;
    }
  }

  /** Length of one period in ms (Infinity for 'all'). */
  private get length(): number {
    return this.period === 'hour' ? HOUR : this.period === 'day' ? DAY : this.period === 'week' ? WEEK : Infinity;
  }

  /** Oldest period start still kept when the current period starts at `current`. */
  private oldestKept(current: number): number {
    return this.period === 'all' ? 0 : current - this.keep * this.length;
  }

  /**
   * Resolves a PeriodRef against `now` to a period start (epoch ms), or null when it names
   * no period that can be kept ('previous' of 'all', or older than `keep`). Throws
   * InputError for a string that is neither keyword nor ISO-8601.
   */
  resolve(ref: PeriodRef, now: number): number | null {
    const current = this.periodStart(now);
    let start: number;
    if (ref === 'current') start = current;
    else if (ref === 'previous') {
      if (this.period === 'all') return null;
      start = current - this.length;
    } else {
      const t = parseIsoTime(ref);
      if (Number.isNaN(t)) throw new InputError(`period "${ref}" is not current, previous or an ISO-8601 date/time (UTC unless it names a zone)`);
      start = this.periodStart(t);
    }
    return start < this.oldestKept(current) ? null : start;
  }

  /**
   * Applies the mode to `member` in the period containing event time `ts` (epoch ms).
   * Returns false, counting it in `late`, when that period is older than the kept ones.
   */
  update(member: string, score: number, ts: number): boolean {
    const start = this.periodStart(ts);
    if (start > this.latest) {
      this.latest = start;
      this.dropBefore(this.oldestKept(start));
    } else if (start < this.oldestKept(this.latest)) {
      this.late++;
      return false;
    }
    let board = this.boards.get(start);
    if (board === undefined) {
      const set = new SortedSet({ ties: this.ties, seed: this.seed, ttlMs: this.ttlMs, trackTouches: true });
      board = new PeriodBoard(start, set, ++this.counter);
      this.boards.set(start, board);
    }
    const set = board.set;
    // The event time feeds the TTL (if any) and the member's change time.
    if (this.mode === 'incr') set.incr(member, score, ts);
    else if (this.mode === 'max') set.max(member, score, ts);
    else set.set(member, score, ts);
    if (set.touched >= 0) board.touch(++this.counter, set.touched);
    return true;
  }

  /**
   * Removes members not updated within ttlMs of `now` and drops periods older than `keep`
   * before the one containing `now`; returns the number of (member, period) entries removed.
   */
  expire(now: number): number {
    let removed = this.dropBefore(this.oldestKept(this.periodStart(now)));
    if (this.ttlMs === undefined) return removed;
    for (const board of this.boards.values()) {
      const set = board.set;
      const gone = set.expire(now);
      if (gone > 0) {
        removed += gone;
        board.touch(++this.counter, set.touched);
      }
    }
    return removed;
  }

  /**
   * Takes over the members of every period of `other` (the same leaderboard, another store: a
   * partition's state handed over; its members are not here); live top-N subscribers see the change.
   */
  absorb(other: Leaderboard): number {
    let n = 0;
    for (const start of other.periodStarts()) {
      let board = this.boards.get(start);
      if (board === undefined) {
        board = new PeriodBoard(start, new SortedSet({ ties: this.ties, seed: this.seed, ttlMs: this.ttlMs, trackTouches: true }), ++this.counter);
        this.boards.set(start, board);
      }
      for (const r of other.entries(start)) {
        board.set.load(r);
        n++;
      }
      board.touch(++this.counter, 0);
    }
    if (other.latest > this.latest) this.latest = other.latest;
    return n;
  }

  /**
   * Removes the members `drop` selects from every period (a partition handed to another
   * instance); live top-N subscribers see the change. Returns the (member, period) entries removed.
   */
  dropWhere(drop: (member: string) => boolean): number {
    let removed = 0;
    for (const board of this.boards.values()) {
      const gone: string[] = [];
      for (const e of board.set.entries()) if (drop(e.member)) gone.push(e.member);
      for (const m of gone) board.set.remove(m);
      if (gone.length > 0) {
        removed += gone.length;
        board.touch(++this.counter, 0);
      }
    }
    return removed;
  }

  private dropBefore(oldest: number): number {
    let removed = 0;
    for (const [start, board] of this.boards) {
      if (start < oldest) {
        removed += board.set.size;
        this.boards.delete(start);
      }
    }
    return removed;
  }

  private board(period: PeriodRef, now: number): PeriodBoard | undefined {
    const start = this.resolve(period, now);
    return start === null ? undefined : this.boards.get(start);
  }

  /** The sorted set of the period starting at `start` (as resolve() gives it), or undefined when it holds nobody. */
  setAt(start: number): SortedSet | undefined {
    return this.boards.get(start)?.set;
  }

  /** Rows at 1-based ranks offset+1 .. offset+limit of the period, highest first. */
  top(offset: number, limit: number, period: PeriodRef, now: number): LeaderboardEntry[] {
    const board = this.board(period, now);
    if (board === undefined || limit <= 0) return [];
    const from = Math.max(0, offset);
    return board.set.revRangeTimed(from, from + limit - 1).map((e, i) => ({ rank: from + i + 1, member: e.member, score: e.score, changedAt: timeOrNull(e.changedAt) }));
  }

  /** The member's row (1-based rank) in the period, or null when it has none there. */
  rank(member: string, period: PeriodRef, now: number): LeaderboardEntry | null {
    const set = this.board(period, now)?.set;
    const r = set?.revRank(member);
    return r === undefined ? null : { rank: r + 1, member, score: set!.score(member)!, changedAt: timeOrNull(set!.changedAtOf(member)) };
  }

  /** The member's row and up to `radius` rows on each side (1-based ranks), highest first; empty when absent. */
  around(member: string, radius: number, period: PeriodRef, now: number): LeaderboardEntry[] {
    const set = this.board(period, now)?.set;
    const r = set?.revRank(member);
    if (r === undefined) return [];
    // SortedSet.around, with the rows' change times.
    const start = Math.max(0, r - Math.max(0, radius));
    return set!.revRangeTimed(start, r + Math.max(0, radius)).map((e, i) => ({ rank: start + i + 1, member: e.member, score: e.score, changedAt: timeOrNull(e.changedAt) }));
  }

  /** Number of members in the period (0 when it has none or is not kept). */
  size(period: PeriodRef, now: number): number {
    return this.board(period, now)?.set.size ?? 0;
  }

  /** Version of the period's last change; 0 when the period has no state. */
  version(period: PeriodRef, now: number): number {
    return this.board(period, now)?.version ?? 0;
  }

  /**
   * True when rows 1..n of the period may differ from what they were at `version` (a value
   * from version()); false only when they certainly do not. O(log TOUCH_CAP).
   */
  topChangedSince(version: number, n: number, period: PeriodRef, now: number): boolean {
    const board = this.board(period, now);
    if (board === undefined) return version !== 0;
    if (board.created > version) return true;
    if (board.version <= version) return false;
    if (n > TOUCH_CAP) return true;
    return board.touchedSince(version) < n;
  }

  /** Starts (epoch ms) of the periods holding state, oldest first. */
  periodStarts(): number[] {
    return [...this.boards.keys()].sort((a, b) => a - b);
  }

  /** The period's members in ascending order, for snapshots. */
  entries(start: number): IterableIterator<SortedSetRecord> {
    const board = this.boards.get(start);
    return board === undefined ? [][Symbol.iterator]() : board.set.entries();
  }

  /** The whole state as plain data. O(n). */
  snapshot(): LeaderboardState {
    return {
      name: this.name,
      version: this.counter,
      latest: Number.isFinite(this.latest) ? this.latest : null,
      periods: this.periodStarts().map((start) => ({ start, version: this.boards.get(start)!.version, entries: [...this.entries(start)] })),
    };
  }

  /**
   * snapshot() without the members: counter, latest period and each period's start, version
   * and size, O(periods). A writer streams each period's entries(start) after it.
   */
  snapshotHead(): Omit<LeaderboardState, 'periods'> & { periods: (Omit<PeriodState, 'entries'> & { size: number })[] } {
    return {
      name: this.name,
      version: this.counter,
      latest: Number.isFinite(this.latest) ? this.latest : null,
      periods: this.periodStarts().map((start) => {
        const board = this.boards.get(start)!;
        return { start, version: board.version, size: board.set.size };
      }),
    };
  }

  /** Replaces the state with a snapshot's. Top-N change tracking restarts at the restored version. */
  restore(state: LeaderboardState): void {
    this.boards.clear();
    this.counter = state.version;
    this.latest = state.latest ?? -Infinity;
    for (const p of state.periods) {
      const set = new SortedSet({ ties: this.ties, seed: this.seed, ttlMs: this.ttlMs, trackTouches: true });
      for (const r of p.entries) set.load(r);
      const board = new PeriodBoard(p.start, set, this.counter);
      board.version = p.version;
      this.boards.set(p.start, board);
    }
  }
}

/** Every leaderboard of a pipeline, by name. */
export class LeaderboardStore implements Iterable<Leaderboard> {
  private readonly boards = new Map<string, Leaderboard>();

  constructor(definitions: readonly LeaderboardOptions[] = []) {
    for (const d of definitions) this.define(d);
  }

  /** Creates a leaderboard; throws when the name is taken. */
  define(options: LeaderboardOptions): Leaderboard {
    if (this.boards.has(options.name)) throw new Error(`leaderboard "${options.name}" is already defined`);
    const board = new Leaderboard(options);
    this.boards.set(options.name, board);
    return board;
  }

  /** The named leaderboard, or undefined. */
  get(name: string): Leaderboard | undefined {
    return this.boards.get(name);
  }

  /** The named leaderboard; throws an Error naming it when unknown. */
  require(name: string): Leaderboard {
    const board = this.boards.get(name);
    if (board === undefined) throw new InputError(`unknown leaderboard "${name}"`);
    return board;
  }

  /** Names of all leaderboards, in definition order. */
  names(): string[] {
    return [...this.boards.keys()];
  }

  [Symbol.iterator](): Iterator<Leaderboard> {
    return this.boards.values();
  }

  /** Leaderboard.update on the named board; throws when unknown. */
  update(name: string, member: string, score: number, ts: number): boolean {
    return this.require(name).update(member, score, ts);
  }

  /** Leaderboard.absorb of each leaderboard of `other` (a store of the same pipeline); returns the entries taken. */
  absorb(other: LeaderboardStore): number {
    let n = 0;
    for (const b of other) n += this.get(b.name)?.absorb(b) ?? 0;
    return n;
  }

  /** Leaderboard.dropWhere on every board; returns the total removed. */
  dropWhere(drop: (member: string) => boolean): number {
    let n = 0;
    for (const b of this.boards.values()) n += b.dropWhere(drop);
    return n;
  }

  /** Leaderboard.expire on every board; returns the total removed. */
  expire(now: number): number {
    let n = 0;
    for (const b of this.boards.values()) n += b.expire(now);
    return n;
  }
}
