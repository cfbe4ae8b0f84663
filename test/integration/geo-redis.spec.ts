// Cross-check of GeoIndex against a real redis-server: the same points go to GEOADD and to
// GeoIndex.set, then for many random centres and radii GEOSEARCH ... FROMLONLAT ... BYRADIUS
// ... ASC WITHDIST [COUNT k] must give the same members in the same order with distances
// within 1 m.
//
// What may honestly differ, and how it is handled:
// - Redis stores each point as a 52-bit geohash (cells of ~0.6 m x 0.3 m on the equator) and
//   measures from the cell's centre; Tally stores 1e-7 degree (~1 cm). A member within 1 m of
//   the radius (by Tally's distance) may be in one answer and not the other: such members
//   are allowed in the symmetric difference and then left out of the order check. Every
//   other member must be in both.
// - For the same reason two members whose distances differ by less than 1 m may come in
//   either order; any inversion between the two orders must be between such members.
// - Redis breaks equal distances arbitrarily (qsort), Tally by member: covered by the above.
// - With COUNT k, the k-th place is decided by those same sub-metre differences: a member
//   of one top-k missing from the other must be within 1 m of the k-th distance.
// A second suite loads Redis's own quantised positions (GEOPOS) into Tally: then the same
// haversine on the same coordinates must agree to Redis's 4 printed decimals (plus Tally's
// 1e-7 degree storage), which checks the distance formula itself.
import { Redis } from 'ioredis';
import { GeoIndex, haversine, type GeoHit } from '../../src/geo/index.js';
import { startRedis, type RedisServer } from '../support/redis-server.js';
import { mulberry32 } from '../support/random.js';

/** Per test: the project's testTimeout is not applied to tests of a multi-project run. */
const TIMEOUT_MS = 120_000;
const KEY = 'geo:points';
/** Metres within which Redis's 52-bit positions may decide differently from Tally's. */
const TOLERANCE_M = 1;

interface Point {
  member: string;
  lat: number;
  lon: number;
}

/** 30k points in a 30 km box around New York, 5k anywhere, a few on a 3x3 lattice (equal distances). */
function makePoints(seed: number): Point[] {
  const rnd = mulberry32(seed);
  const pts: Point[] = [];
  for (let i = 0; i < 30_000; i++) pts.push({ member: `nyc:${i}`, lat: 40.58 + rnd() * 0.27, lon: -74.15 + rnd() * 0.355 });
  for (let i = 0; i < 5_000; i++) pts.push({ member: `world:${i}`, lat: -85 + rnd() * 170, lon: -180 + rnd() * 360 });
  for (let i = 0; i < 9; i++) pts.push({ member: `lattice:${i}`, lat: 40.75 + 0.001 * Math.floor(i / 3), lon: -73.99 + 0.001 * (i % 3) });
  return pts;
}

interface Query {
  lat: number;
  lon: number;
  radius: number;
  count?: number;
}

function makeQueries(seed: number, n: number): Query[] {
  const rnd = mulberry32(seed);
  const radii = [5, 50, 300, 1000, 2500, 10_000];
  const out: Query[] = [];
  for (let i = 0; i < n; i++) {
    const world = i % 10 === 9;
    const lat = world ? -80 + rnd() * 160 : 40.58 + rnd() * 0.27;
    const lon = world ? -180 + rnd() * 360 : -74.15 + rnd() * 0.355;
    const radius = world ? [200_000, 1_000_000, 3_000_000][i % 3] : i % 4 === 0 ? 1 + rnd() * 5000 : radii[i % radii.length];
    out.push({ lat, lon, radius, count: i % 3 === 0 ? [1, 10, 100][i % 9 === 0 ? 0 : i % 2] : undefined });
  }
  // Centred on the lattice: several members at exactly equal distances.
  out.push({ lat: 40.751, lon: -73.989, radius: 200 }, { lat: 40.751, lon: -73.989, radius: 200, count: 3 });
  return out;
}

async function geoadd(redis: Redis, points: readonly Point[]): Promise<void> {
  for (let i = 0; i < points.length; i += 1000) {
    const pipe = redis.pipeline();
    for (const p of points.slice(i, i + 1000)) pipe.geoadd(KEY, p.lon, p.lat, p.member);
    for (const [err] of (await pipe.exec()) ?? []) if (err) throw err;
  }
}

async function geosearch(redis: Redis, q: Query): Promise<GeoHit[]> {
  const args: (string | number)[] = [KEY, 'FROMLONLAT', q.lon, q.lat, 'BYRADIUS', q.radius, 'm', 'ASC'];
  if (q.count !== undefined) args.push('COUNT', q.count);
  args.push('WITHDIST');
  const reply = (await redis.call('GEOSEARCH', ...args)) as [string, string][];
  return reply.map(([member, dist]) => ({ member, lat: NaN, lon: NaN, distanceMeters: Number(dist), lastSeen: NaN }));
}

interface Comparison {
  compared: number;
  boundary: number;
  inversions: number;
}

/**
 * Asserts that Redis's answer and Tally's agree up to the documented tolerances and returns
 * how many members were compared, left out at a cut, and how many were ordered differently
 * (each between members less than `tolerance` apart in distance).
 */
function compare(index: GeoIndex, q: Query, redis: readonly GeoHit[], tally: readonly GeoHit[], tolerance: number): Comparison {
  // Tally's distance from the query centre to any member, in or out of either answer.
  const dT = (m: string): number => {
    const p = index.position(m);
    if (p === undefined) throw new Error(`${m} is not in Tally`);
    return haversine(q.lat, q.lon, p.lat, p.lon);
  };
  const inRedis = new Map(redis.map((h) => [h.member, h.distanceMeters]));
  const inTally = new Map(tally.map((h) => [h.member, h.distanceMeters]));
  // Where each answer was cut: the radius, or with COUNT the k-th distance when the answer is full.
  const cuts = [q.radius];
  if (q.count !== undefined && tally.length === q.count) cuts.push(tally[tally.length - 1].distanceMeters);
  if (q.count !== undefined && redis.length === q.count) cuts.push(dT(redis[redis.length - 1].member));
  const nearCut = (m: string) => cuts.some((c) => Math.abs(dT(m) - c) <= tolerance);
  const onlyRedis = [...inRedis.keys()].filter((m) => !inTally.has(m));
  const onlyTally = [...inTally.keys()].filter((m) => !inRedis.has(m));
  for (const m of [...onlyRedis, ...onlyTally]) {
    if (!nearCut(m)) throw new Error(`${m} (Tally: ${dT(m)} m) is in only one answer to ${JSON.stringify(q)} and not within ${tolerance} m of a cut (${cuts.join(', ')})`);
  }
  const common = redis.filter((h) => inTally.has(h.member) && !nearCut(h.member));
  for (const h of common) {
    const d = inTally.get(h.member) as number;
    if (Math.abs(d - h.distanceMeters) > tolerance) throw new Error(`${h.member}: Redis ${h.distanceMeters} m vs Tally ${d} m for ${JSON.stringify(q)}`);
  }
  // Order: walking Redis's answer, Tally's distance may only step back by less than the tolerance.
  let runningMax = -Infinity;
  let inversions = 0;
  for (const h of common) {
    const d = inTally.get(h.member) as number;
    if (d < runningMax) {
      inversions++;
      if (runningMax - d > tolerance) throw new Error(`${h.member} at ${d} m follows a member at ${runningMax} m in Redis's answer to ${JSON.stringify(q)}`);
    }
    runningMax = Math.max(runningMax, d);
  }
  return { compared: common.length, boundary: onlyRedis.length + onlyTally.length, inversions };
}

describe('GeoIndex against redis-server GEOSEARCH', () => {
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

  it(
    'gives the same members in the same order, distances within 1 m, for 400 random radius searches',
    async () => {
      await redis.del(KEY);
      const points = makePoints(1);
      await geoadd(redis, points);
      const index = new GeoIndex();
      for (const p of points) index.set(p.member, p.lat, p.lon, 0);
      expect(await redis.zcard(KEY)).toBe(index.size);

      const totals = { compared: 0, boundary: 0, inversions: 0, nonEmpty: 0, counted: 0 };
      for (const q of makeQueries(2, 400)) {
        const fromRedis = await geosearch(redis, q);
        const fromTally = index.search(q.lat, q.lon, q.radius, q.count);
        const c = compare(index, q, fromRedis, fromTally, TOLERANCE_M);
        totals.compared += c.compared;
        totals.boundary += c.boundary;
        totals.inversions += c.inversions;
        if (fromTally.length > 0) totals.nonEmpty++;
        if (q.count !== undefined && fromTally.length === q.count) totals.counted++;
      }
      // The comparison must have had something to compare: most answers non-empty, most members compared.
      expect(totals.nonEmpty).toBeGreaterThan(300);
      expect(totals.counted).toBeGreaterThan(50);
      expect(totals.compared).toBeGreaterThan(100_000);
      expect(totals.boundary).toBeLessThan(totals.compared / 1000);
      process.stderr.write(`[geo-redis] compared ${totals.compared} members; ${totals.boundary} within 1 m of a cut; ${totals.inversions} sub-metre order differences\n`);
    },
    TIMEOUT_MS,
  );

  it(
    "agrees to Redis's printed precision when Tally holds Redis's own quantised positions",
    async () => {
      await redis.del(KEY);
      const points = makePoints(3).filter((_, i) => i % 5 === 0);
      await geoadd(redis, points);
      const pos = (await redis.call('GEOPOS', KEY, ...points.map((p) => p.member))) as [string, string][];
      const index = new GeoIndex();
      points.forEach((p, i) => index.set(p.member, Number(pos[i][1]), Number(pos[i][0]), 0));
      // Redis prints 4 decimals (0.05 mm); Tally stores 1e-7 degree (<= ~1 cm): 2 cm covers both.
      const tolerance = 0.02;
      let compared = 0;
      for (const q of makeQueries(4, 150)) {
        const fromRedis = await geosearch(redis, q);
        const fromTally = index.search(q.lat, q.lon, q.radius, q.count);
        compared += compare(index, q, fromRedis, fromTally, tolerance).compared;
      }
      expect(compared).toBeGreaterThan(10_000);
    },
    TIMEOUT_MS,
  );

  it(
    'agrees with GEODIST and GEOPOS within 1 m',
    async () => {
      await redis.del(KEY);
      const points = makePoints(5).filter((_, i) => i % 10 === 0);
      await geoadd(redis, points);
      const index = new GeoIndex();
      for (const p of points) index.set(p.member, p.lat, p.lon, 0);
      const rnd = mulberry32(6);
      for (let i = 0; i < 500; i++) {
        const a = points[Math.floor(rnd() * points.length)].member;
        const b = points[Math.floor(rnd() * points.length)].member;
        const redisDist = Number(await redis.geodist(KEY, a, b, 'M'));
        expect(Math.abs((index.distance(a, b) as number) - redisDist)).toBeLessThanOrEqual(TOLERANCE_M);
        const [[lon, lat]] = (await redis.geopos(KEY, a)) as [string, string][];
        const p = index.position(a);
        expect(Math.abs((p?.lat ?? NaN) - Number(lat))).toBeLessThan(1e-5);
        expect(Math.abs((p?.lon ?? NaN) - Number(lon))).toBeLessThan(1e-5);
      }
      expect(index.distance('nope', points[0].member)).toBeUndefined();
      expect(await redis.geodist(KEY, 'nope', points[0].member)).toBeNull();
    },
    TIMEOUT_MS,
  );
});

