import fc from 'fast-check';
import { storedLat, storedLon } from './coordinates.js';
import { haversine } from './distance.js';
import { GeoIndex, type GeoHit, type GeoPoint } from './geo-index.js';

/** The obvious implementation: a map of members, every query computes every distance. */
class BruteForceIndex {
  readonly points = new Map<string, GeoPoint>();
  constructor(private readonly ttlMs?: number) {}

  set(member: string, lat: number, lon: number, ts: number): boolean {
    const p = this.points.get(member);
    if (p !== undefined && ts < p.lastSeen) return false;
    this.points.set(member, { member, lat: storedLat(lat), lon: storedLon(lon), lastSeen: ts });
    return true;
  }

  remove(member: string): boolean {
    return this.points.delete(member);
  }

  expire(now: number): string[] {
    if (this.ttlMs === undefined) return [];
    const gone = [...this.points.values()].filter((p) => p.lastSeen <= now - (this.ttlMs as number)).map((p) => p.member);
    for (const m of gone) this.points.delete(m);
    return gone.sort();
  }

  search(lat: number, lon: number, radius: number, limit = Infinity): GeoHit[] {
    return [...this.points.values()]
      .map((p) => ({ member: p.member, lat: p.lat, lon: p.lon, distanceMeters: haversine(lat, lon, p.lat, p.lon), lastSeen: p.lastSeen }))
      .filter((h) => h.distanceMeters <= radius)
      .sort((a, b) => a.distanceMeters - b.distanceMeters || (a.member < b.member ? -1 : 1))
      .slice(0, limit);
  }
}

const fixed = (min: number, max: number) => fc.integer({ min: Math.ceil(min * 1e7), max: Math.floor(max * 1e7) }).map((q) => q / 1e7);

/** Positions: a dense city, a few repeated spots (equal distances), and the whole world incl. poles and antimeridian. */
const positionArb = fc.oneof(
  { weight: 5, arbitrary: fc.tuple(fixed(40.6, 40.9), fixed(-74.1, -73.7)) },
  { weight: 2, arbitrary: fc.constantFrom<[number, number]>([40.75, -73.99], [40.7501, -73.99], [40.75, -73.9899], [40.7499, -73.9901]) },
  { weight: 1, arbitrary: fc.tuple(fixed(-85.05112878, 85.05112878), fixed(-180, 180)) },
  { weight: 1, arbitrary: fc.tuple(fixed(-1, 1), fc.oneof(fixed(179, 180), fixed(-180, -179))) },
  { weight: 1, arbitrary: fc.tuple(fc.oneof(fixed(84, 85.05112878), fixed(-85.05112878, -84)), fixed(-180, 180)) },
);
const radiusArb = fc.oneof(
  fc.constantFrom(0, 1, 50, 1000, 5000, 20_000, 2_000_000, 30_000_000, Infinity),
  fc.double({ min: 0, max: 100_000, noNaN: true }),
);
const limitArb = fc.option(fc.integer({ min: 0, max: 12 }), { nil: undefined });
const memberArb = fc.constantFrom(...Array.from({ length: 24 }, (_, i) => `m${i}`), 'b', 'a', 'é', '');

type Op =
  | { op: 'set'; member: string; pos: [number, number]; dt: number }
  | { op: 'remove'; member: string }
  | { op: 'tick'; dt: number }
  | { op: 'search'; pos: [number, number]; radius: number; limit: number | undefined }
  | { op: 'nearest'; pos: [number, number]; k: number }
  | { op: 'read'; a: string; b: string };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ op: fc.constant('set' as const), member: memberArb, pos: positionArb, dt: fc.integer({ min: -300, max: 300 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('remove' as const), member: memberArb }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('tick' as const), dt: fc.integer({ min: 0, max: 1500 }) }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('search' as const), pos: positionArb, radius: radiusArb, limit: limitArb }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('nearest' as const), pos: positionArb, k: fc.integer({ min: 0, max: 30 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('read' as const), a: memberArb, b: memberArb }) },
);

const optionsArb = fc.record({
  gridStep: fc.constantFrom(4, 9, 13, 17, 20),
  ttlMs: fc.option(fc.constantFrom(1, 700, 2000), { nil: undefined }),
});

describe(GeoIndex.name, () => {
  it('answers like brute force through sets, removals, expiry and queries', () => {
    fc.assert(
      fc.property(optionsArb, fc.array(opArb, { minLength: 1, maxLength: 120 }), (options, ops) => {
        const sut = new GeoIndex(options);
        const model = new BruteForceIndex(options.ttlMs);
        let now = 1_700_000_000_000;
        for (const o of ops) {
          switch (o.op) {
            case 'set':
              expect(sut.set(o.member, o.pos[0], o.pos[1], now + o.dt)).toBe(model.set(o.member, o.pos[0], o.pos[1], now + o.dt));
              break;
            case 'remove':
              expect(sut.remove(o.member)).toBe(model.remove(o.member));
              break;
            case 'tick': {
              now += o.dt;
              const seen: string[] = [];
              const n = sut.expire(now, (p) => {
                expect(p).toEqual(model.points.get(p.member));
                seen.push(p.member);
              });
              const expected = model.expire(now);
              expect(seen.sort()).toEqual(expected);
              expect(n).toBe(expected.length);
              break;
            }
            case 'search':
              expect(sut.search(o.pos[0], o.pos[1], o.radius, o.limit)).toEqual(model.search(o.pos[0], o.pos[1], o.radius, o.limit));
              break;
            case 'nearest':
              expect(sut.nearest(o.pos[0], o.pos[1], o.k)).toEqual(model.search(o.pos[0], o.pos[1], Infinity, o.k));
              break;
            case 'read': {
              expect(sut.position(o.a)).toEqual(model.points.get(o.a));
              const a = model.points.get(o.a);
              const b = model.points.get(o.b);
              expect(sut.distance(o.a, o.b)).toBe(a && b ? haversine(a.lat, a.lon, b.lat, b.lon) : undefined);
              break;
            }
          }
          expect(sut.size).toBe(model.points.size);
        }
        const entries = [...sut.entries()].sort((x, y) => (x.member < y.member ? -1 : 1));
        expect(entries).toEqual([...model.points.values()].sort((x, y) => (x.member < y.member ? -1 : 1)));
      }),
      { numRuns: 400 },
    );
  });

  it('finds the k nearest of many random points exactly (dense grid, rings and fallback)', () => {
    fc.assert(
      fc.property(
        fc.array(positionArb, { minLength: 0, maxLength: 400 }),
        fc.array(fc.tuple(positionArb, radiusArb, limitArb), { minLength: 1, maxLength: 10 }),
        fc.constantFrom(6, 12, 17, 22),
        (positions, queries, gridStep) => {
          const sut = new GeoIndex({ gridStep });
          const model = new BruteForceIndex();
          positions.forEach(([lat, lon], i) => {
            sut.set(`p${i}`, lat, lon, i);
            model.set(`p${i}`, lat, lon, i);
          });
          for (const [[lat, lon], radius, limit] of queries) {
            expect(sut.search(lat, lon, radius, limit)).toEqual(model.search(lat, lon, radius, limit));
            expect(sut.nearest(lat, lon, limit ?? 5)).toEqual(model.search(lat, lon, Infinity, limit ?? 5));
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  it('expires exactly at lastSeen + ttl, also after a long jump in time', () => {
    const sut = new GeoIndex({ ttlMs: 10_000 });
    sut.set('a', 40.7, -74, 1_000);
    sut.set('b', 40.7, -74, 5_000);
    sut.set('a', 40.71, -74, 8_000);
    expect(sut.expire(14_999)).toBe(0);
    expect(sut.expire(15_000)).toBe(1);
    expect(sut.position('b')).toBeUndefined();
    expect(sut.expire(17_999)).toBe(0);
    expect(sut.position('a')?.lat).toBe(40.71);
    sut.set('c', 0, 0, 10);
    expect(sut.expire(1e12)).toBe(2);
    expect(sut.size).toBe(0);
  });

  it('ignores stale updates and keeps the newest position', () => {
    const sut = new GeoIndex();
    expect(sut.set('a', 1, 1, 100)).toBe(true);
    expect(sut.set('a', 2, 2, 99)).toBe(false);
    expect(sut.set('a', 3, 3, 100)).toBe(true);
    expect(sut.position('a')).toEqual({ member: 'a', lat: 3, lon: 3, lastSeen: 100 });
  });

  it('restores from its own entries', () => {
    const a = new GeoIndex({ ttlMs: 1000 });
    for (let i = 0; i < 50; i++) a.set(`m${i}`, 40 + i / 100, -74 + i / 100, i * 10);
    a.remove('m7');
    const b = new GeoIndex({ ttlMs: 1000 });
    expect(b.restore(a.entries())).toBe(49);
    expect([...b.entries()]).toEqual([...a.entries()]);
    expect(b.search(40.2, -73.8, 50_000, 7)).toEqual(a.search(40.2, -73.8, 50_000, 7));
    expect(b.expire(1200)).toBe(a.expire(1200));
  });

  it('rejects invalid input with the reason', () => {
    const sut = new GeoIndex();
    expect(() => sut.set('a', 91, 0, 0)).toThrow('lat 91 is out of range [-85.05112878, 85.05112878]');
    expect(() => sut.set('a', 0, -180.0001, 0)).toThrow('lon -180.0001 is out of range [-180, 180]');
    expect(() => sut.set('a', NaN, 0, 0)).toThrow('lat NaN is not a finite number');
    expect(() => sut.set('a', '1' as unknown as number, 0, 0)).toThrow('lat must be a number, got string');
    expect(() => sut.set('a', 0, 0, NaN)).toThrow('ts NaN is not a finite number (epoch ms)');
    expect(() => sut.set(7 as unknown as string, 0, 0, 0)).toThrow('member must be a string, got number');
    expect(() => sut.search(0, 0, -1)).toThrow('radiusMeters -1 must be a number >= 0');
    expect(() => sut.search(0, 0, NaN)).toThrow('radiusMeters NaN must be a number >= 0');
    expect(() => sut.search(0, 0, 1, 1.5)).toThrow('limit 1.5 must be a non-negative integer');
    expect(() => sut.search(100, 0, 1)).toThrow('lat 100 is out of range');
    expect(() => sut.nearest(0, 0, -1)).toThrow('k -1 must be a non-negative integer');
    expect(() => new GeoIndex({ ttlMs: 0 })).toThrow('ttlMs 0 must be a positive finite number of ms');
    expect(() => new GeoIndex({ gridStep: 30 })).toThrow('gridStep 30 must be an integer in [4, 24]');
    expect(sut.size).toBe(0);
  });

  it('answers more hits than its kept scratch holds (12,000 points, no limit and a large limit)', () => {
    const sut = new GeoIndex();
    const model = new BruteForceIndex();
    for (let i = 0; i < 12_000; i++) {
      const lat = 40.7 + ((i * 7919) % 1000) / 20_000;
      const lon = -74 + ((i * 104729) % 1000) / 20_000;
      sut.set(`p${i}`, lat, lon, 0);
      model.set(`p${i}`, lat, lon, 0);
    }
    const all = sut.search(40.72, -73.98, 5000);
    expect(all.length).toBeGreaterThan(8000);
    expect(all).toEqual(model.search(40.72, -73.98, 5000));
    expect(sut.search(40.72, -73.98, 3000, 9000)).toEqual(model.search(40.72, -73.98, 3000, 9000));
    expect(sut.nearest(40.72, -73.98, 5)).toEqual(model.search(40.72, -73.98, Infinity, 5));
  });

  it('keeps working when members churn through many cells and ids are reused', () => {
    const sut = new GeoIndex({ gridStep: 20 });
    const model = new BruteForceIndex();
    let seed = 7;
    const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
    for (let i = 0; i < 20_000; i++) {
      const m = `d${Math.floor(rnd() * 500)}`;
      if (rnd() < 0.1) {
        expect(sut.remove(m)).toBe(model.remove(m));
      } else {
        const lat = Math.round((40.7 + rnd() * 0.05) * 1e7) / 1e7;
        const lon = Math.round((-74 + rnd() * 0.05) * 1e7) / 1e7;
        sut.set(m, lat, lon, i);
        model.set(m, lat, lon, i);
      }
    }
    expect(sut.size).toBe(model.points.size);
    expect(sut.search(40.72, -73.98, 1500, 25)).toEqual(model.search(40.72, -73.98, 1500, 25));
    expect(sut.search(40.72, -73.98, 800)).toEqual(model.search(40.72, -73.98, 800));
  });
});
