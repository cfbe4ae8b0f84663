import fc from 'fast-check';
import { SortedSet, type TieOrder } from './sorted-set.js';
import { compareUtf8 } from './utf8-order.js';

/** The obvious model: an array of members, sorted from scratch on every read. */
interface ModelMember {
  member: string;
  score: number;
  /** Sequence number of the update that gave the member its current score. */
  reached: number;
  updatedAt: number;
}

class Model {
  members = new Map<string, ModelMember>();
  private seq = 0;
  constructor(
    readonly ties: TieOrder,
    private readonly ttl?: number,
  ) {}

  private put(member: string, score: number, t: number): void {
    if (score === 0) score = 0; // the set stores -0 as 0
    const m = this.members.get(member);
    // ties 'first': given times (here, with a TTL), a member reached its score at the newest
    // time that changed it (equal times by member bytes); without, in the order of updates.
    const timed = this.ttl !== undefined;
    if (m === undefined) this.members.set(member, { member, score, reached: timed ? t : ++this.seq, updatedAt: t });
    else {
      if (t > m.updatedAt) m.updatedAt = t;
      if (score !== m.score) {
        m.score = score;
        m.reached = timed ? Math.max(m.reached, t) : ++this.seq;
      }
    }
  }

  set(member: string, score: number, t: number): void {
    this.put(member, score, t);
  }
  incr(member: string, delta: number, t: number): void {
    this.put(member, (this.members.get(member)?.score ?? 0) + delta, t);
  }
  max(member: string, score: number, t: number): void {
    const old = this.members.get(member)?.score;
    this.put(member, old === undefined || score > old ? score : old, t);
  }
  expire(now: number): number {
    let n = 0;
    for (const m of [...this.members.values()]) {
      if (m.updatedAt <= now - this.ttl!) {
        this.members.delete(m.member);
        n++;
      }
    }
    return n;
  }

  /** Highest first. */
  desc(): ModelMember[] {
    return [...this.members.values()].sort((a, b) => {
      if (a.score !== b.score) return b.score - a.score;
      if (this.ties === 'first' && a.reached !== b.reached) return a.reached - b.reached;
      // Redis: memcmp on the UTF-8 bytes, reversed for the descending view.
      return Buffer.compare(Buffer.from(b.member, 'utf8'), Buffer.from(a.member, 'utf8'));
    });
  }
}

type Command =
  | { op: 'set' | 'incr' | 'max'; member: string; value: number; t: number }
  | { op: 'remove'; member: string }
  | { op: 'expire'; now: number };

// Members chosen to make UTF-16 and UTF-8 orders disagree (surrogates vs U+E000..U+FFFF),
// plus prefixes, the empty string and NUL.
const SPECIAL = ['', 'a', 'b', 'A', 'ab', 'a\u0000', 'é', 'e\u0301', '\ue000', '\uffff', '😀', '😀a', '𝄞', 'z', 'zz', 'player:10', 'player:9'];
const memberArb = fc.oneof(fc.constantFrom(...SPECIAL), fc.string({ unit: 'binary', maxLength: 3 }));
// Small integers make ties common; a few non-integers and infinities cover the rest.
const scoreArb = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: -4, max: 4 }) },
  { weight: 1, arbitrary: fc.double({ min: -10, max: 10, noNaN: true }) },
  { weight: 1, arbitrary: fc.constantFrom(Infinity, -Infinity, -0) },
);
const timeArb = fc.integer({ min: 0, max: 100 });
const commandArb: fc.Arbitrary<Command> = fc.oneof(
  fc.record({ op: fc.constantFrom('set' as const, 'incr' as const, 'max' as const), member: memberArb, value: scoreArb, t: timeArb }),
  fc.record({ op: fc.constant('remove' as const), member: memberArb }),
  fc.record({ op: fc.constant('expire' as const), now: fc.integer({ min: 0, max: 140 }) }),
);

/** Applies a command to both; an update whose result would be NaN must throw and change nothing. */
function apply(sut: SortedSet, model: Model, c: Command, ttl: number | undefined): void {
  switch (c.op) {
    case 'remove':
      expect(sut.remove(c.member)).toBe(model.members.delete(c.member));
      return;
    case 'expire':
      expect(sut.expire(c.now)).toBe(ttl === undefined ? 0 : model.expire(c.now));
      return;
    default: {
      const old = model.members.get(c.member)?.score ?? 0;
      const wouldBeNaN = Number.isNaN(c.op === 'incr' ? old + c.value : c.value);
      const t = ttl === undefined ? undefined : c.t;
      if (wouldBeNaN) {
        expect(() => sut[c.op](c.member, c.value, t)).toThrow(RangeError);
        return;
      }
      const fresh = !model.members.has(c.member);
      model[c.op](c.member, c.value, c.t);
      const result = sut[c.op](c.member, c.value, t);
      if (c.op === 'set') expect(result).toBe(fresh);
      else expect(result).toBe(model.members.get(c.member)!.score);
    }
  }
}

/** Rank and range arguments that reach past both ends and use negative indices. */
function check(sut: SortedSet, model: Model, probe: { a: number; b: number; lo: number; hi: number; offset: number; limit: number; radius: number }): void {
  sut.assertValid();
  const desc = model.desc();
  const n = desc.length;
  expect(sut.size).toBe(n);
  desc.forEach((m, i) => {
    expect(sut.score(m.member)).toBe(m.score);
    expect(sut.revRank(m.member)).toBe(i);
    expect(sut.rank(m.member)).toBe(n - 1 - i);
    expect(sut.countAbove(m.score, m.member, sut.stampOf(m.member))).toBe(i);
  });
  // Keys of members not in the set: with ties 'redis', what a member of that score would count.
  if (model.ties === 'redis') {
    for (const member of ['', 'a', '\uffff', '😀']) {
      for (const score of [probe.lo, probe.hi, -Infinity, Infinity]) {
        const key = { member, score: score === 0 ? 0 : score };
        const above = desc.filter((m) => m.score > key.score || (m.score === key.score && Buffer.compare(Buffer.from(m.member, 'utf8'), Buffer.from(key.member, 'utf8')) > 0));
        expect(sut.countAbove(score, member)).toBe(above.length);
      }
    }
  }
  const pairs = (ms: ModelMember[]) => ms.map((m) => ({ member: m.member, score: m.score }));
  expect(sut.revRange(0, -1)).toEqual(pairs(desc));
  // ZREVRANGE index rules: negative counts from the end, clamp, empty when crossed.
  const norm = (i: number) => (i < 0 ? i + n : i);
  const s = Math.max(0, norm(probe.a));
  const e = Math.min(n - 1, norm(probe.b));
  const want = s > e || s >= n ? [] : pairs(desc.slice(s, e + 1));
  expect(sut.revRange(probe.a, probe.b)).toEqual(want);
  expect(sut.range(probe.a, probe.b)).toEqual(s > e || s >= n ? [] : pairs([...desc].reverse().slice(s, e + 1)));
  const lo = Math.min(probe.lo, probe.hi);
  const hi = Math.max(probe.lo, probe.hi);
  const inRange = [...desc].reverse().filter((m) => m.score >= lo && m.score <= hi);
  expect(sut.count(lo, hi)).toBe(inRange.length);
  expect(sut.count(hi + 1, lo)).toBe(0);
  const lim = (ms: ModelMember[]) => pairs(ms.slice(probe.offset, probe.limit < 0 ? undefined : probe.offset + probe.limit));
  expect(sut.rangeByScore(lo, hi, { offset: probe.offset, limit: probe.limit })).toEqual(lim(inRange));
  expect(sut.rangeByScore(lo, hi, { offset: probe.offset, limit: probe.limit, rev: true })).toEqual(lim([...inRange].reverse()));
  for (const m of desc.slice(0, 6)) {
    const r = desc.indexOf(m);
    const from = Math.max(0, r - probe.radius);
    const around = desc.slice(from, r + probe.radius + 1).map((x, k) => ({ rank: from + k, member: x.member, score: x.score }));
    expect(sut.around(m.member, probe.radius)).toEqual(around);
  }
  expect(sut.around('\u0000absent', 2)).toEqual([]);
  expect(sut.revRank('\u0000absent')).toBeUndefined();
  expect(sut.score('\u0000absent')).toBeUndefined();
}

const probeArb = fc.record({
  a: fc.integer({ min: -8, max: 8 }),
  b: fc.integer({ min: -8, max: 8 }),
  lo: fc.integer({ min: -5, max: 5 }),
  hi: fc.integer({ min: -5, max: 5 }),
  offset: fc.integer({ min: 0, max: 4 }),
  limit: fc.integer({ min: -1, max: 4 }),
  radius: fc.integer({ min: 0, max: 3 }),
});

describe(SortedSet.name, () => {
  for (const ties of ['redis', 'first'] as const) {
    for (const ttl of [undefined, 20]) {
      it(`matches a sorted-array model (ties: ${ties}, ttl: ${ttl ?? 'none'})`, () => {
        fc.assert(
          fc.property(fc.array(fc.tuple(commandArb, probeArb), { maxLength: 60 }), fc.integer(), (steps, seed) => {
            const sut = new SortedSet({ ties, ttlMs: ttl, seed });
            const model = new Model(ties, ttl);
            for (const [c, probe] of steps) {
              apply(sut, model, c, ttl);
              check(sut, model, probe);
            }
          }),
          { numRuns: 150 },
        );
      });
    }
  }

  it('keeps order and spans through many moves on a larger set (ties: redis and first)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 299 }), fc.integer({ min: -3, max: 6 })), { minLength: 200, maxLength: 1500 }), fc.constantFrom<TieOrder>('redis', 'first'), (ops, ties) => {
        const sut = new SortedSet({ ties, seed: 7 });
        const model = new Model(ties);
        for (const [k, d] of ops) {
          const member = `m${k}`;
          if (d === -3) {
            expect(sut.remove(member)).toBe(model.members.delete(member));
          } else {
            model.incr(member, d, 0);
            expect(sut.incr(member, d)).toBe(model.members.get(member)!.score);
          }
        }
        sut.assertValid();
        const desc = model.desc();
        expect(sut.revRange(0, -1).map((e) => e.member)).toEqual(desc.map((m) => m.member));
        desc.forEach((m, i) => expect(sut.revRank(m.member)).toBe(i));
      }),
      { numRuns: 40 },
    );
  });

  it('orders ties by bytes when members share long prefixes and differ past the tie key', () => {
    // Suffixes from a small alphabet (NUL and a 2-byte char included) after a shared
    // prefix: keys often tie and strings decide; a late member shrinks the common prefix
    // so every key is recomputed while the set is populated.
    const suffix = fc.string({ unit: fc.constantFrom('0', '1', '9', '\u0000', 'é', 'z'), maxLength: 10 });
    fc.assert(
      fc.property(fc.array(fc.tuple(suffix, fc.integer({ min: 0, max: 2 })), { minLength: 1, maxLength: 80 }), fc.nat(79), (ops, shrinkAt) => {
        const sut = new SortedSet();
        const model = new Model('redis');
        ops.forEach(([sfx, score], i) => {
          const member = i === shrinkAt ? `p${sfx}` : `player:000000${sfx}`;
          model.set(member, score, 0);
          sut.set(member, score);
        });
        sut.assertValid();
        expect(sut.revRange(0, -1)).toEqual(model.desc().map((m) => ({ member: m.member, score: m.score })));
      }),
      { numRuns: 300 },
    );
  });

  it('orders equal scores by UTF-8 bytes, not UTF-16 code units', () => {
    const sut = new SortedSet();
    // U+FFFF is one code unit 0xFFFF but three bytes EF BF BF; U+1F600 is 0xD83D 0xDE00 but F0 9F 98 80.
    for (const m of ['\uffff', '😀', '\ue000', 'z']) sut.set(m, 1);
    expect(sut.revRange(0, -1).map((e) => e.member)).toEqual(['😀', '\uffff', '\ue000', 'z']);
    expect(Math.sign(compareUtf8('😀', '\uffff'))).toBe(1);
    expect('😀' < '\uffff').toBe(true); // the JavaScript order the set must not use
  });

  it("ranks whoever reached a score first higher with ties: 'first'", () => {
    const sut = new SortedSet({ ties: 'first' });
    sut.incr('b', 5);
    sut.incr('a', 5);
    sut.incr('c', 3);
    sut.incr('c', 2); // reaches 5 last
    expect(sut.revRange(0, -1).map((e) => e.member)).toEqual(['b', 'a', 'c']);
    sut.set('b', 5); // no change: keeps its place
    expect(sut.revRank('b')).toBe(0);
  });

  it('rescores in place and reports the highest rank each mutation touched', () => {
    const sut = new SortedSet({ trackTouches: true });
    for (let i = 0; i < 10; i++) sut.set(`m${i}`, i * 10);
    sut.incr('m5', 1); // 51 stays between 40 and 60: rank 4 from the top is touched
    expect(sut.touched).toBe(4);
    sut.incr('m5', 100); // jumps to the top
    expect(sut.touched).toBe(0);
    sut.set('m0', 0); // unchanged
    expect(sut.touched).toBe(-1);
    sut.remove('m1'); // second lowest: rank 8
    expect(sut.touched).toBe(8);
    sut.set('new', -1); // new lowest: rank 9
    expect(sut.touched).toBe(9);
    sut.assertValid();
  });

  it('expires lazily: an updated member is re-queued, not removed', () => {
    const sut = new SortedSet({ ttlMs: 100 });
    sut.set('a', 1, 0);
    sut.set('b', 2, 0);
    sut.incr('a', 1, 80);
    expect(sut.expire(100)).toBe(1);
    expect(sut.has('a')).toBe(true);
    expect(sut.has('b')).toBe(false);
    expect(sut.expire(179)).toBe(0);
    expect(sut.expire(180)).toBe(1);
    expect(sut.size).toBe(0);
    expect(() => sut.set('c', 1)).toThrow(TypeError);
  });

  it('restores from its entries, stamps and update times included', () => {
    const sut = new SortedSet({ ties: 'first', ttlMs: 50 });
    sut.set('x', 1, 10);
    sut.set('y', 1, 20);
    sut.set('z', 2, 30);
    const copy = new SortedSet({ ties: 'first', ttlMs: 50 });
    for (const r of sut.entries()) copy.load(r);
    expect(copy.revRange(0, -1)).toEqual(sut.revRange(0, -1));
    copy.set('w', 1, 40); // reaches 1 after x and y
    expect(copy.revRange(0, -1).map((e) => e.member)).toEqual(['z', 'x', 'y', 'w']);
    expect(copy.expire(60)).toBe(1);
    expect(copy.has('x')).toBe(false);
  });
});

describe('SortedSet change times', () => {
  it('are the newest event time that changed a score, NaN where none was given, and survive entries() / load()', () => {
    const sut = new SortedSet();
    sut.set('untimed', 1);
    expect(sut.changedAtOf('untimed')).toBeNaN();
    expect(sut.changedAtOf('absent')).toBeUndefined();
    sut.set('a', 1, 100);
    sut.set('a', 1, 200); // same score: no change
    sut.incr('b', 2, 50);
    sut.incr('b', 1, 40); // late change: the time stays 50
    expect(sut.revRangeTimed(0, -1)).toEqual([
      { member: 'b', score: 3, changedAt: 50 },
      { member: 'untimed', score: 1, changedAt: NaN },
      { member: 'a', score: 1, changedAt: 100 },
    ]);
    sut.remove('a');
    sut.set('c', 7); // may reuse a's id: must not inherit its time
    expect(sut.changedAtOf('c')).toBeNaN();
    const copy = new SortedSet();
    for (const r of sut.entries()) copy.load(r);
    expect(copy.revRangeTimed(0, -1)).toEqual(sut.revRangeTimed(0, -1));
  });
});

describe('SortedSet touched ranks', () => {
  it.each(['redis', 'first'] as const)('equals the higher of the old and new positions on every update (ties: %s)', (ties) => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ op: fc.constantFrom('incr', 'set', 'max'), member: fc.integer({ min: 0, max: 20 }), score: fc.integer({ min: -5, max: 5 }) }), { minLength: 1, maxLength: 120 }),
        (ops) => {
          const sut = new SortedSet({ ties, trackTouches: true });
          for (const { op, member, score } of ops) {
            const m = `m${member}`;
            const before = sut.revRank(m);
            const old = sut.score(m);
            sut[op](m, score);
            const after = sut.revRank(m)!;
            const now = sut.score(m);
            const expected = before === undefined ? after : now === old ? -1 : Math.min(before, after);
            expect(sut.touched).toBe(expected);
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});
