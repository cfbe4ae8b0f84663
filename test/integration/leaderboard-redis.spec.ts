// Cross-check of SortedSet against a real redis-server: the same ZADD / ZADD GT / ZINCRBY /
// ZREM workload goes to both, then every member's ZSCORE and ZREVRANK and a set of
// ZREVRANGE, ZRANGEBYSCORE, ZREVRANGEBYSCORE and ZCOUNT answers must be identical.
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { SortedSet } from '../../src/leaderboard/index.js';
import { startRedis, type RedisServer } from '../support/redis-server.js';

type Op = { kind: 'set' | 'max' | 'incr'; member: string; score: number } | { kind: 'remove'; member: string };

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Members whose UTF-16 order differs from their UTF-8 byte order, prefixes of each other,
// and many that share a score, so the tie rule decides most ranks.
const UNICODE = ['😀', '\uffff', '\ue000', 'é', 'e\u0301', 'ß', 'Z', 'z', 'a', 'a\u0000', 'ab', '𝄞', '中文', ''];

function workload(seed: number, members: number, ops: number, fractional: boolean, unicode = 0.3): Op[] {
  const rnd = mulberry32(seed);
  const name = (i: number) => `player:${i}`;
  const score = () => (fractional ? Math.round((rnd() * 200 - 50) * 1000) / 1000 : Math.floor(rnd() * 12) - 2);
  const out: Op[] = [];
  for (let i = 0; i < ops; i++) {
    // Some operations hit the unicode members, so they keep meeting on equal scores.
    const member = rnd() < unicode ? UNICODE[Math.floor(rnd() * UNICODE.length)] : name(Math.floor(rnd() * members));
    const r = rnd();
    if (r < 0.08) out.push({ kind: 'remove', member });
    else if (r < 0.3) out.push({ kind: 'set', member, score: score() });
    else if (r < 0.45) out.push({ kind: 'max', member, score: score() });
    else out.push({ kind: 'incr', member, score: score() });
  }
  return out;
}

async function applyBoth(redis: Redis, key: string, ops: readonly Op[]): Promise<SortedSet> {
  const set = new SortedSet({ seed: 42 });
  for (let i = 0; i < ops.length; i += 1000) {
    const pipe = redis.pipeline();
    for (const op of ops.slice(i, i + 1000)) {
      if (op.kind === 'remove') {
        pipe.zrem(key, op.member);
        set.remove(op.member);
      } else if (op.kind === 'set') {
        pipe.zadd(key, op.score, op.member);
        set.set(op.member, op.score);
      } else if (op.kind === 'max') {
        pipe.zadd(key, 'GT', op.score, op.member);
        set.max(op.member, op.score);
      } else {
        pipe.zincrby(key, op.score, op.member);
        set.incr(op.member, op.score);
      }
    }
    const replies = await pipe.exec();
    for (const [err] of replies ?? []) if (err) throw err;
  }
  return set;
}

/** WITHSCORES reply -> entries. */
function pairs(flat: string[]): { member: string; score: number }[] {
  const out = [];
  for (let i = 0; i < flat.length; i += 2) out.push({ member: flat[i], score: Number(flat[i + 1]) });
  return out;
}

async function compare(redis: Redis, key: string, set: SortedSet, seed: number): Promise<void> {
  const all = pairs(await redis.zrevrange(key, 0, -1, 'WITHSCORES'));
  expect(set.size).toBe(all.length);
  expect(set.revRange(0, -1)).toEqual(all);
  const pipe = redis.pipeline();
  for (const { member } of all) pipe.zrevrank(key, member).zscore(key, member);
  const replies = (await pipe.exec())!.map(([err, v]) => {
    if (err) throw err;
    return v;
  });
  all.forEach(({ member }, i) => {
    expect(set.revRank(member)).toBe(replies[2 * i]);
    expect(set.score(member)).toBe(Number(replies[2 * i + 1]));
  });
  const rnd = mulberry32(seed ^ 0x5eed);
  const n = all.length;
  for (let k = 0; k < 25; k++) {
    const a = Math.floor(rnd() * (n + 10)) - 5 - (k % 3 === 0 ? n : 0);
    const b = a + Math.floor(rnd() * 30) - 3;
    expect(set.revRange(a, b)).toEqual(pairs(await redis.zrevrange(key, a, b, 'WITHSCORES')));
    expect(set.range(a, b)).toEqual(pairs(await redis.zrange(key, String(a), String(b), 'WITHSCORES')));
    const lo = Math.floor(rnd() * 30) - 10;
    const hi = lo + Math.floor(rnd() * 20);
    const offset = Math.floor(rnd() * 5);
    const limit = Math.floor(rnd() * 8) - 1;
    expect(set.count(lo, hi)).toBe(await redis.zcount(key, lo, hi));
    expect(set.rangeByScore(lo, hi, { offset, limit })).toEqual(pairs(await redis.zrangebyscore(key, lo, hi, 'WITHSCORES', 'LIMIT', offset, limit)));
    expect(set.rangeByScore(lo, hi, { offset, limit, rev: true })).toEqual(pairs(await redis.zrevrangebyscore(key, hi, lo, 'WITHSCORES', 'LIMIT', offset, limit)));
  }
}

/** Per test: the project's testTimeout is not applied to tests of a multi-project run. */
const TIMEOUT_MS = 120_000;

describe('SortedSet against redis-server', () => {
  let server: RedisServer;
  let redis: Redis;

  beforeAll(async () => {
    server = await startRedis();
    redis = new Redis({ host: server.host, port: server.port });
  }, TIMEOUT_MS);

  afterAll(async () => {
    redis?.disconnect();
    await server?.stop();
  });

  it.each([
    { seed: 1, members: 3000, ops: 60_000, fractional: false },
    { seed: 2, members: 200, ops: 20_000, fractional: false },
    { seed: 3, members: 2000, ops: 30_000, fractional: true },
  ])('gives identical scores, ranks and ranges after a random workload (%o)', async ({ seed, members, ops, fractional }) => {
    const key = `lb:${seed}`;
    const set = await applyBoth(redis, key, workload(seed, members, ops, fractional));
    expect(set.size).toBeGreaterThan(members / 2);
    await compare(redis, key, set, seed);
  }, TIMEOUT_MS);

  it('orders tied unicode members as Redis does (300 short runs on unicode members only)', async () => {
    let tiedWide = 0;
    for (let seed = 100; seed < 400; seed++) {
      const key = `uni:${seed}`;
      const set = await applyBoth(redis, key, workload(seed, 0, 12, false, 1));
      await compare(redis, key, set, seed);
      const top = set.revRange(0, -1);
      tiedWide += top.filter((e, i) => i > 0 && e.score === top[i - 1].score && /[\ud800-\uffff]/.test(e.member + top[i - 1].member)).length;
    }
    expect(tiedWide).toBeGreaterThan(50); // the runs really did put wide members side by side
  }, TIMEOUT_MS);

  it('agrees on arbitrary unicode members and short command sequences (fast-check)', async () => {
    const member = fc.oneof(fc.constantFrom(...UNICODE), fc.string({ unit: 'binary', maxLength: 4 }));
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ kind: fc.constantFrom('set' as const, 'max' as const, 'incr' as const), member, score: fc.integer({ min: -3, max: 3 }) }),
      fc.record({ kind: fc.constant('remove' as const), member }),
    );
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 80 }), async (ops) => {
        const key = `fc:${run++}`;
        const set = await applyBoth(redis, key, ops);
        await compare(redis, key, set, run);
        await redis.del(key);
      }),
      { numRuns: 60 },
    );
  }, TIMEOUT_MS);
});
