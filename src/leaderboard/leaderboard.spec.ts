import fc from 'fast-check';
import { Leaderboard, LeaderboardStore, type LeaderboardEntry, type LeaderboardMode, type LeaderboardPeriod } from './leaderboard.js';
import { InputError } from '../input-error.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T0 = Date.parse('2026-11-25T00:00:00Z'); // a Wednesday

/** Obvious model: per period start, a map of members; rows sorted on every read. */
class Model {
  periods = new Map<number, Map<string, { score: number; at: number; reached: number; changed: number }>>();
  latest = -Infinity;
  constructor(
    private readonly mode: LeaderboardMode,
    private readonly keep: number,
    private readonly ttl: number | undefined,
    private readonly ties: 'redis' | 'first',
  ) {}

  update(member: string, score: number, ts: number): boolean {
    const start = Math.floor(ts / HOUR) * HOUR;
    if (start < this.latest - this.keep * HOUR) return false;
    if (start > this.latest) this.latest = start;
    for (const s of [...this.periods.keys()]) if (s < this.latest - this.keep * HOUR) this.periods.delete(s);
    const p = this.periods.get(start) ?? new Map();
    this.periods.set(start, p);
    const m = p.get(member);
    const old = m?.score;
    const next = this.mode === 'incr' ? (old ?? 0) + score : this.mode === 'max' ? (old === undefined || score > old ? score : old) : score;
    // ties 'first': a member reached its score at its change time (equal times by member bytes).
    if (m === undefined) p.set(member, { score: next, at: ts, reached: ts, changed: ts });
    else {
      m.at = Math.max(m.at, ts);
      if (next !== m.score) {
        m.score = next;
        m.changed = Math.max(m.changed, ts);
        m.reached = m.changed;
      }
    }
    return true;
  }

  expire(now: number): number {
    let n = 0;
    const oldest = Math.floor(now / HOUR) * HOUR - this.keep * HOUR;
    for (const [s, p] of [...this.periods]) {
      if (s < oldest) {
        n += p.size;
        this.periods.delete(s);
      } else if (this.ttl !== undefined) {
        for (const [k, m] of [...p]) {
          if (m.at <= now - this.ttl) {
            p.delete(k);
            n++;
          }
        }
      }
    }
    return n;
  }

  rows(start: number, now: number): LeaderboardEntry[] {
    const p = this.periods.get(start);
    if (p === undefined || start < Math.floor(now / HOUR) * HOUR - this.keep * HOUR) return [];
    return [...p]
      .sort(([a, x], [b, y]) => y.score - x.score || (this.ties === 'first' ? x.reached - y.reached : 0) || Buffer.compare(Buffer.from(b), Buffer.from(a)))
      .map(([member, m], i) => ({ rank: i + 1, member, score: m.score, changedAt: m.changed }));
  }
}

type Step = { kind: 'update'; member: string; score: number; dt: number } | { kind: 'expire'; dt: number } | { kind: 'query'; dt: number; n: number };

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('update' as const), member: fc.constantFrom('ann', 'bob', 'cy', 'dee', 'é', '😀', '\uffff'), score: fc.integer({ min: -3, max: 5 }), dt: fc.integer({ min: -2 * HOUR, max: 4 * HOUR }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('expire' as const), dt: fc.integer({ min: 0, max: 5 * HOUR }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('query' as const), dt: fc.integer({ min: 0, max: 5 * HOUR }), n: fc.integer({ min: 1, max: 4 }) }) },
);

describe(Leaderboard.name, () => {
  it('matches a per-period model through updates, roll-overs, late events, TTL and expiry, change times included', () => {
    fc.assert(
      fc.property(
        fc.array(stepArb, { maxLength: 50 }),
        fc.constantFrom<LeaderboardMode>('incr', 'max', 'set'),
        fc.integer({ min: 0, max: 2 }),
        fc.constantFrom(undefined, 30 * 60_000),
        fc.constantFrom('redis' as const, 'first' as const),
        (steps, mode, keep, ttlMs, ties) => {
          const sut = new Leaderboard({ name: 'lb', mode, period: 'hour', keep, ttlMs, ties });
          const model = new Model(mode, keep, ttlMs, ties);
          let clock = T0 + 10 * HOUR;
          const seen: { version: number; start: number; top: LeaderboardEntry[]; n: number }[] = [];
          for (const s of steps) {
            if (s.kind === 'update') {
              const ts = clock + s.dt;
              clock = Math.max(clock, ts);
              expect(sut.update(s.member, s.score, ts)).toBe(model.update(s.member, s.score, ts));
              continue;
            }
            const now = clock + s.dt;
            if (s.kind === 'expire') {
              expect(sut.expire(now)).toBe(model.expire(now));
              continue;
            }
            const cur = Math.floor(now / HOUR) * HOUR;
            for (const [ref, start] of [
              ['current', cur],
              ['previous', cur - HOUR],
              [new Date(cur - 2 * HOUR).toISOString(), cur - 2 * HOUR],
              [new Date(cur - HOUR + 59_000).toISOString().slice(0, 16), cur - HOUR],
            ] as const) {
              const rows = model.rows(start, now);
              expect(sut.top(0, 100, ref, now)).toEqual(rows);
              expect(sut.top(1, s.n, ref, now)).toEqual(rows.slice(1, 1 + s.n));
              expect(sut.size(ref, now)).toBe(rows.length);
              for (const row of rows) {
                expect(sut.rank(row.member, ref, now)).toEqual(row);
                const i = row.rank - 1;
                expect(sut.around(row.member, s.n, ref, now)).toEqual(rows.slice(Math.max(0, i - s.n), i + s.n + 1));
              }
              expect(sut.rank('nobody', ref, now)).toBeNull();
            }
            // "Did the top n change?" may say yes spuriously, never no wrongly.
            for (const old of seen) {
              const same = JSON.stringify(sut.top(0, old.n, new Date(old.start).toISOString(), now)) === JSON.stringify(old.top);
              if (!sut.topChangedSince(old.version, old.n, new Date(old.start).toISOString(), now)) expect(same).toBe(true);
            }
            seen.push({ version: sut.version('current', now), start: cur, top: sut.top(0, s.n, 'current', now), n: s.n });
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('answers "did the top n change?" from the touched ranks, not just the version', () => {
    const sut = new Leaderboard({ name: 'lb', mode: 'incr', period: 'all' });
    for (let i = 0; i < 10; i++) sut.update(`p${i}`, 100 - i, 0);
    sut.update('p0', 1, 0); // a top change that happened before v
    const v = sut.version('current', 0);
    sut.update('p9', 1, 0); // 91 -> 92: stays 10th
    expect(sut.version('current', 0)).toBeGreaterThan(v);
    expect(sut.topChangedSince(v, 3, 'current', 0)).toBe(false);
    expect(sut.topChangedSince(v, 10, 'current', 0)).toBe(true);
    sut.update('p5', 1.5, 0); // 95 -> 96.5: passes p4 (96), now 5th
    expect(sut.topChangedSince(v, 4, 'current', 0)).toBe(false);
    expect(sut.topChangedSince(v, 5, 'current', 0)).toBe(true);
    expect(sut.top(0, 3, 'current', 0).map((r) => r.member)).toEqual(['p0', 'p1', 'p2']);
  });

  it('puts events into UTC periods: ISO weeks from Monday, days, hours', () => {
    const week = new Leaderboard({ name: 'w', mode: 'incr', period: 'week' });
    const sunday = Date.parse('2026-11-29T23:59:59Z');
    const monday = Date.parse('2026-11-30T00:00:00Z');
    expect(week.periodStart(sunday)).toBe(Date.parse('2026-11-23T00:00:00Z'));
    expect(week.periodStart(monday)).toBe(monday);
    week.update('a', 1, sunday);
    week.update('a', 5, monday);
    expect(week.rank('a', 'previous', monday + DAY)).toEqual({ rank: 1, member: 'a', score: 1, changedAt: sunday });
    expect(week.rank('a', 'current', monday + DAY)).toEqual({ rank: 1, member: 'a', score: 5, changedAt: monday });
    expect(week.rank('a', '2026-11-25', monday)).toEqual({ rank: 1, member: 'a', score: 1, changedAt: sunday });
    const day = new Leaderboard({ name: 'd', mode: 'max', period: 'day', keep: 0 });
    day.update('a', 3, T0 + 5);
    day.update('a', 2, T0 + 6);
    expect(day.top(0, 10, '2026-11-25', T0 + HOUR)).toEqual([{ rank: 1, member: 'a', score: 3, changedAt: T0 + 5 }]); // 2 < 3: no change
    expect(day.top(0, 10, 'previous', T0 + HOUR)).toEqual([]);
    expect(day.update('a', 9, T0 - 1)).toBe(false); // yesterday, keep: 0
    expect(day.late).toBe(1);
    expect(() => day.top(0, 1, 'yesterday', T0)).toThrow(InputError);
    const all = new Leaderboard({ name: 'a', mode: 'set', period: 'all' });
    all.update('x', 4, 1);
    all.update('x', 2, 2);
    expect(all.top(0, 5, 'current', 9e12)).toEqual([{ rank: 1, member: 'x', score: 2, changedAt: 2 }]);
    expect(all.top(0, 5, 'previous', 9e12)).toEqual([]);
  });

  it('restores a snapshot with the same rows, versions and tie order', () => {
    const sut = new Leaderboard({ name: 'lb', mode: 'incr', period: 'hour', ties: 'first', ttlMs: HOUR });
    sut.update('b', 2, T0);
    sut.update('a', 2, T0 + 1);
    sut.update('c', 7, T0 + HOUR);
    const copy = new Leaderboard({ name: 'lb', mode: 'incr', period: 'hour', ties: 'first', ttlMs: HOUR });
    copy.restore(JSON.parse(JSON.stringify(sut.snapshot())));
    const now = T0 + HOUR + 10;
    expect(copy.top(0, 10, 'previous', now)).toEqual(sut.top(0, 10, 'previous', now));
    expect(copy.top(0, 10, 'current', now)).toEqual(sut.top(0, 10, 'current', now));
    expect(copy.version('current', now)).toBe(sut.version('current', now));
    expect(copy.topChangedSince(copy.version('current', now), 1, 'current', now)).toBe(false);
    expect(copy.expire(T0 + HOUR)).toBe(1); // b's TTL; a was updated 1 ms later
    expect(copy.rank('a', 'previous', T0 + HOUR)).toEqual({ rank: 1, member: 'a', score: 2, changedAt: T0 + 1 });
    // The first hour falls out of `keep` (a) and c reaches its TTL.
    expect(copy.expire(T0 + 2 * HOUR)).toBe(2);
    expect(copy.top(0, 10, 'previous', T0 + 2 * HOUR)).toEqual([]);
  });
});

describe(`${Leaderboard.name} change times`, () => {
  it('keep the newest event time that changed the score, through late events, no-op updates and removal', () => {
    const sut = new Leaderboard({ name: 'lb', mode: 'max', period: 'all', ttlMs: 100 });
    sut.update('a', 5, 10);
    sut.update('a', 3, 20); // below the best: the score, and so its time, stay
    expect(sut.rank('a', 'current', 20)?.changedAt).toBe(10);
    sut.update('a', 9, 15); // late, but it raises the score: the score now reflects events up to 15
    expect(sut.rank('a', 'current', 20)?.changedAt).toBe(15);
    sut.update('a', 12, 12); // later still in arrival, older in event time: the time stays 15
    expect(sut.rank('a', 'current', 20)).toEqual({ rank: 1, member: 'a', score: 12, changedAt: 15 });
    // The TTL counts from the newest update (20), not the newest change.
    expect(sut.expire(119)).toBe(0);
    expect(sut.expire(120)).toBe(1);
    // A member created on the freed id starts with its own time.
    sut.update('b', 1, 130);
    expect(sut.top(0, 5, 'current', 130)).toEqual([{ rank: 1, member: 'b', score: 1, changedAt: 130 }]);
  });

  it('are null for a member restored from a snapshot that did not keep them', () => {
    const sut = new Leaderboard({ name: 'lb', mode: 'incr', period: 'all' });
    sut.update('a', 1, 10);
    const state = sut.snapshot();
    for (const p of state.periods) for (const e of p.entries) delete e.changedAt;
    const copy = new Leaderboard({ name: 'lb', mode: 'incr', period: 'all' });
    copy.restore(state);
    expect(copy.around('a', 1, 'current', 10)).toEqual([{ rank: 1, member: 'a', score: 1, changedAt: null }]);
    copy.update('a', 1, 30);
    expect(copy.rank('a', 'current', 30)?.changedAt).toBe(30);
  });
});

describe(LeaderboardStore.name, () => {
  it('holds leaderboards by name and routes updates and expiry', () => {
    const periods: LeaderboardPeriod[] = ['all', 'day'];
    const store = new LeaderboardStore(periods.map((period) => ({ name: period, mode: 'incr' as const, period, ttlMs: 1000 })));
    expect(store.names()).toEqual(['all', 'day']);
    expect(() => store.define({ name: 'all', mode: 'max', period: 'all' })).toThrow(/already defined/);
    expect(() => store.update('nope', 'a', 1, 0)).toThrow(/unknown leaderboard "nope"/);
    store.update('all', 'a', 1, T0);
    store.update('day', 'a', 1, T0);
    expect(store.require('day').rank('a', 'current', T0)?.rank).toBe(1);
    expect(store.expire(T0 + 1000)).toBe(2);
    expect([...store].map((b) => b.size('current', T0 + 1000))).toEqual([0, 0]);
  });
});
