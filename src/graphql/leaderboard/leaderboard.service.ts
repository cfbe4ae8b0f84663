/**
 * Leaderboard reads for the resolvers, and the live top-N behind `leaderboardChanged`.
 *
 * Live top-N is computed once per distinct (board, N, period) and shared by every subscriber
 * of that key (a channel). A channel recomputes at most TALLY_LEADERBOARD_MAX_HZ times a
 * second (Limits.leaderboardMaxHz; trailing edge, so the last change is always delivered),
 * and only when the top N may have changed (Leaderboard.topChangedSince), and pushes the new
 * rows to each subscriber's coalescing queue: one array of row models per change, the same
 * for every subscriber, each row with the time its score last changed.
 */
import { Inject, Injectable } from '@nestjs/common';
import { Gather } from '../../cluster/gather.js';
import { mergeAround, mergeTop, type RankedRow } from '../../cluster/merge.js';
import type { BoardRow } from '../../cluster/partition-reads.js';
import { Leaderboard, LeaderboardStore, type LeaderboardEntry } from '../../leaderboard/index.js';
import { leaderboardTopic, type Change, type ChangeFeed } from '../../changes/change-feed.js';
import type { Settings } from '../../settings/settings.js';
import { CHANGES, CLOCK, SETTINGS } from '../../settings/tokens.js';
import { UnknownNameError } from '../errors.js';
import { CoalescingQueue } from '../live/coalescing-queue.js';
import { toLeaderboardEntryModel, type LeaderboardEntry as LeaderboardEntryModel } from './models/leaderboard-entry.model.js';

function entryOf(r: RankedRow<BoardRow>): LeaderboardEntry {
  return { rank: r.rank, member: r.member, score: r.score, changedAt: r.changedAt };
}

class TopChannel {
  readonly queues = new Set<CoalescingQueue<LeaderboardEntryModel[]>>();
  private version = -1;
  private read: LeaderboardEntry[] = [];
  private rows: LeaderboardEntryModel[] = [];
  private timer: NodeJS.Timeout | undefined;
  private lastRun = 0;
  unsubscribe: () => void = () => {};

  constructor(
    private readonly board: Leaderboard,
    private readonly top: number,
    private readonly period: string,
    private readonly clock: () => number,
    /** Shortest time between two recomputations: 1000 / TALLY_LEADERBOARD_MAX_HZ. */
    private readonly minIntervalMs: number,
  ) {}

  /** Current rows (computed now), for a new subscriber's first message. */
  current(): LeaderboardEntryModel[] {
    this.refresh(true);
    return this.rows;
  }

  /** A change happened on the board: recompute soon, within the rate limit. */
  changed(): void {
    if (this.timer) return;
    const wait = Math.max(0, this.lastRun + this.minIntervalMs - Date.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.lastRun = Date.now();
      if (this.refresh(false)) for (const q of this.queues) q.offer('top', () => this.rows);
    }, wait);
  }

  /** Recomputes the rows if the top may have changed; true when they did. */
  private refresh(force: boolean): boolean {
    const now = this.clock();
    if (!force && this.version >= 0 && !this.board.topChangedSince(this.version, this.top, this.period, now)) return false;
    const version = this.board.version(this.period, now);
    const read = this.board.top(0, this.top, this.period, now);
    const prev = this.read;
    const same = read.length === prev.length && read.every((r, i) => r.member === prev[i].member && r.score === prev[i].score && r.changedAt === prev[i].changedAt);
    this.version = version;
    this.read = read;
    if (!same) this.rows = read.map(toLeaderboardEntryModel);
    return !same;
  }

  close(): void {
    clearTimeout(this.timer);
    this.unsubscribe();
  }
}

@Injectable()
export class LeaderboardService {
  private readonly channels = new Map<string, TopChannel>();

  constructor(
    @Inject(LeaderboardStore) private readonly store: LeaderboardStore,
    @Inject(CHANGES) private readonly changes: ChangeFeed<Change>,
    @Inject(CLOCK) private readonly clock: () => number,
    @Inject(SETTINGS) private readonly settings: Settings,
    @Inject(Gather) private readonly gather: Gather,
  ) {}

  board(name: string): Leaderboard {
    const board = this.store.get(name);
    if (board === undefined) throw new UnknownNameError(`unknown leaderboard "${name}"${this.store.names().length ? ` (leaderboards: ${this.store.names().join(', ')})` : ''}`);
    return board;
  }

  top(name: string, offset: number, limit: number, period = 'current'): LeaderboardEntry[] {
    return this.board(name).top(offset, limit, period, this.clock());
  }

  rank(name: string, member: string, period = 'current'): LeaderboardEntry | null {
    return this.board(name).rank(member, period, this.clock());
  }

  around(name: string, member: string, radius: number, period = 'current'): LeaderboardEntry[] {
    return this.board(name).around(member, radius, period, this.clock());
  }

  /** True in a cluster: reads are gathered from every member (gatheredTop, gatheredRank, gatheredAround). */
  get gathered(): boolean {
    return this.gather.enabled;
  }

  /** top() across the cluster: every member's rows at its ranks 1..offset+limit, merged; the period resolved here, once. */
  async gatheredTop(name: string, offset: number, limit: number, period = 'current', authorization?: string): Promise<LeaderboardEntry[]> {
    const start = this.clusterPeriod(name, period);
    const parts = await this.gather.all({ kind: 'top', board: name, start, n: offset + limit }, authorization);
    return mergeTop(parts, offset, limit, this.board(name).ties).map(entryOf);
  }

  /** rank() across the cluster: the member's row from its owner, then 1 + the members above it in every partition. */
  async gatheredRank(name: string, member: string, period = 'current', authorization?: string): Promise<LeaderboardEntry | null> {
    const around = await this.gatheredAround(name, member, 0, period, authorization);
    return around[0] ?? null;
  }

  /** around() across the cluster: the member's row, then every member's neighbours of it, merged. */
  async gatheredAround(name: string, member: string, radius: number, period = 'current', authorization?: string): Promise<LeaderboardEntry[]> {
    const start = this.clusterPeriod(name, period);
    const row = (await this.gather.all({ kind: 'row', board: name, start, member }, authorization)).find((r) => r !== null);
    if (row === undefined) return [];
    const parts = await this.gather.all({ kind: 'neighbours', board: name, start, key: { member, score: row.score, stamp: row.stamp }, radius }, authorization);
    return mergeAround(row, parts, radius, this.board(name).ties).map(entryOf);
  }

  /** Refuses, as a gather would, an unknown board or period. */
  requireGatherable(name: string, period: string): void {
    this.clusterPeriod(name, period);
  }

  /**
   * The period start every member is asked for. With `ties: first`, the rows' stamps are the
   * event times members reached their scores (SortedSet), comparable across members.
   */
  private clusterPeriod(name: string, period: string): number | null {
    return this.board(name).resolve(period, this.clock());
  }

  /** A subscription to the top `top` rows: the current rows first, then each change. */
  changed(name: string, top: number, period = 'current'): CoalescingQueue<LeaderboardEntryModel[]> {
    const board = this.board(name);
    board.resolve(period, this.clock()); // a bad period is refused before subscribing
    const key = `${name}\u0000${top}\u0000${period}`;
    let channel = this.channels.get(key);
    if (channel === undefined) {
      const created = new TopChannel(board, top, period, this.clock, 1000 / this.settings.limits.leaderboardMaxHz);
      created.unsubscribe = this.changes.subscribe(leaderboardTopic(name), () => created.changed());
      this.channels.set(key, created);
      channel = created;
    }
    const ch = channel;
    const queue: CoalescingQueue<LeaderboardEntryModel[]> = new CoalescingQueue(() => {
      ch.queues.delete(queue);
      if (ch.queues.size === 0) {
        ch.close();
        this.channels.delete(key);
      }
    });
    ch.queues.add(queue);
    const first = ch.current();
    queue.offer('top', () => first);
    return queue;
  }
}
