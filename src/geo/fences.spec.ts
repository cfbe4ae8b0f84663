import fc from 'fast-check';
import { storedLat, storedLon } from './coordinates.js';
import { haversine } from './distance.js';
import { FenceSet, pointInCircle, pointInRing, validateFences, type FenceDef, type FenceEvent } from './fences.js';
import { GeoCollection } from './geo-store.js';

const fixed = (min: number, max: number) => fc.integer({ min: Math.ceil(min * 1e7), max: Math.floor(max * 1e7) }).map((q) => q / 1e7);

/** Fences of every kind: city circles and rectangles, concave shapes, huge, polar and antimeridian circles. */
const fenceShapeArb: fc.Arbitrary<Omit<FenceDef, 'name'>> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ circle: fc.record({ lat: fixed(40.6, 40.9), lon: fixed(-74.1, -73.7), radiusMeters: fc.integer({ min: 10, max: 5000 }) }) }) },
  {
    weight: 3,
    arbitrary: fc.tuple(fixed(40.6, 40.9), fixed(-74.1, -73.7), fixed(0.001, 0.08), fixed(0.001, 0.08)).map(([lat, lon, h, w]) => ({
      polygon: [
        [lat, lon],
        [lat, lon + w],
        [lat + h, lon + w],
        [lat + h, lon],
      ] as [number, number][],
    })),
  },
  {
    weight: 2,
    // A concave "L" with a notch, sometimes closed explicitly.
    arbitrary: fc.tuple(fixed(40.6, 40.85), fixed(-74.1, -73.75), fixed(0.01, 0.05), fc.boolean()).map(([lat, lon, s, closed]) => {
      const ring: [number, number][] = [
        [lat, lon],
        [lat, lon + 2 * s],
        [lat + s, lon + 2 * s],
        [lat + s, lon + s],
        [lat + 2 * s, lon + s],
        [lat + 2 * s, lon],
      ];
      return { polygon: closed ? [...ring, ring[0]] : ring };
    }),
  },
  { weight: 1, arbitrary: fc.record({ circle: fc.record({ lat: fixed(-85, 85), lon: fixed(-180, 180), radiusMeters: fc.integer({ min: 1000, max: 3_000_000 }) }) }) },
  { weight: 1, arbitrary: fc.record({ circle: fc.record({ lat: fixed(-1, 1), lon: fc.constantFrom(179.999, -179.999, 180), radiusMeters: fc.integer({ min: 100, max: 50_000 }) }) }) },
  { weight: 1, arbitrary: fc.record({ circle: fc.record({ lat: fc.constantFrom(84.9, -84.9), lon: fixed(-180, 180), radiusMeters: fc.integer({ min: 1000, max: 400_000 }) }) }) },
);

const fencesArb = (maxLength: number) =>
  fc.array(fenceShapeArb, { minLength: 0, maxLength }).map((shapes) => shapes.map((s, i) => ({ name: `f${i}`, ...s }) as FenceDef));

/** Positions near the fences, on rectangle edges and vertices, and anywhere. */
const fencePositionArb: fc.Arbitrary<[number, number]> = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(fixed(40.6, 40.95), fixed(-74.1, -73.65)) },
  { weight: 1, arbitrary: fc.tuple(fixed(-85.05112878, 85.05112878), fixed(-180, 180)) },
  { weight: 1, arbitrary: fc.tuple(fixed(-1, 1), fc.oneof(fixed(179.99, 180), fixed(-180, -179.99))) },
  { weight: 1, arbitrary: fc.tuple(fixed(84, 85.05112878), fixed(-180, 180)) },
);

/** Brute force: every fence tested directly, no grid. */
function bruteContaining(defs: readonly FenceDef[], lat: number, lon: number): number[] {
  const out: number[] = [];
  defs.forEach((d, i) => {
    if ('circle' in d) {
      if (haversine(d.circle.lat, d.circle.lon, lat, lon) <= d.circle.radiusMeters) out.push(i);
    } else if (pointInRing(lat, lon, d.polygon.flat())) {
      out.push(i);
    }
  });
  return out;
}

describe('pointInRing', () => {
  const rect = [40.7, -74.02, 40.7, -73.97, 40.75, -73.97, 40.75, -74.02];

  it('agrees with the half-open box test on a rectangle, edges included', () => {
    fc.assert(
      fc.property(fc.oneof(fixed(40.69, 40.76), fc.constantFrom(40.7, 40.75)), fc.oneof(fixed(-74.03, -73.96), fc.constantFrom(-74.02, -73.97)), (lat, lon) => {
        const halfOpen = lat >= 40.7 && lat < 40.75 && lon >= -74.02 && lon < -73.97;
        expect(pointInRing(lat, lon, rect)).toBe(halfOpen);
      }),
    );
  });

  it('holds the south and west edges but not the north and east ones', () => {
    expect(pointInRing(40.7, -74.0, rect)).toBe(true); // south edge
    expect(pointInRing(40.72, -74.02, rect)).toBe(true); // west edge
    expect(pointInRing(40.75, -74.0, rect)).toBe(false); // north edge
    expect(pointInRing(40.72, -73.97, rect)).toBe(false); // east edge
    expect(pointInRing(40.7, -74.02, rect)).toBe(true); // south-west corner
    expect(pointInRing(40.75, -73.97, rect)).toBe(false); // north-east corner
  });

  it('gives a point on a shared edge to exactly one of two neighbouring fences', () => {
    const west = [0, 0, 0, 1, 1, 1, 1, 0];
    const east = [0, 1, 0, 2, 1, 2, 1, 1];
    for (const lat of [0, 0.25, 0.5, 0.9999999]) {
      expect(Number(pointInRing(lat, 1, west)) + Number(pointInRing(lat, 1, east))).toBe(1);
    }
    // A slanted shared edge: triangles (0,0)-(1,1)-(0,1) and (0,0)-(1,0)-(1,1) in (lat, lon).
    const upper = [0, 0, 1, 1, 0, 1];
    const lower = [0, 0, 1, 0, 1, 1];
    fc.assert(
      fc.property(fc.double({ min: 0.001, max: 0.999, noNaN: true }), (t) => {
        expect(Number(pointInRing(t, t, upper)) + Number(pointInRing(t, t, lower))).toBe(1);
      }),
    );
  });

  it('handles a concave ring (the notch is outside)', () => {
    // L shape: the square [0,2]x[0,2] minus [1,2]x[1,2] (lat x lon).
    const l = [0, 0, 0, 2, 1, 2, 1, 1, 2, 1, 2, 0];
    expect(pointInRing(0.5, 1.5, l)).toBe(true);
    expect(pointInRing(1.5, 0.5, l)).toBe(true);
    expect(pointInRing(1.5, 1.5, l)).toBe(false);
    expect(pointInRing(2.5, 0.5, l)).toBe(false);
  });
});

describe('pointInCircle', () => {
  it('is inclusive at the radius', () => {
    const d = haversine(40.7, -74, 40.71, -74);
    expect(pointInCircle(40.71, -74, { lat: 40.7, lon: -74, radiusMeters: d })).toBe(true);
    expect(pointInCircle(40.71, -74, { lat: 40.7, lon: -74, radiusMeters: d - 1e-6 })).toBe(false);
  });
});

describe(FenceSet.name, () => {
  it('finds the fences containing a point exactly like testing every fence', () => {
    fc.assert(
      fc.property(fencesArb(40), fc.array(fencePositionArb, { minLength: 1, maxLength: 40 }), (defs, points) => {
        const sut = new FenceSet(defs);
        for (const [lat, lon] of points) expect(sut.containing(lat, lon)).toEqual(bruteContaining(defs, lat, lon));
      }),
      { numRuns: 200 },
    );
  });

  it('files 1,000 city fences so that a point is tested against few of them', () => {
    const defs: FenceDef[] = [];
    let seed = 42;
    const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
    for (let i = 0; i < 1000; i++) {
      const lat = 40.6 + rnd() * 0.27;
      const lon = -74.1 + rnd() * 0.35;
      defs.push(i % 2 === 0 ? { name: `c${i}`, circle: { lat, lon, radiusMeters: 100 + rnd() * 1500 } } : { name: `p${i}`, polygon: [[lat, lon], [lat, lon + 0.01], [lat + 0.008, lon + 0.01], [lat + 0.008, lon]] });
    }
    const sut = new FenceSet(defs);
    let tested = 0;
    const contains = sut.contains.bind(sut);
    sut.contains = (f: number, lat: number, lon: number) => {
      tested++;
      return contains(f, lat, lon);
    };
    for (let i = 0; i < 500; i++) {
      const lat = 40.6 + rnd() * 0.27;
      const lon = -74.1 + rnd() * 0.35;
      expect(sut.containing(lat, lon)).toEqual(bruteContaining(defs, lat, lon));
    }
    // Each fence covers ~1/400 of the area; filing by cell keeps the tests per point in the tens, not 1,000.
    expect(tested / 500).toBeLessThan(40);
  });

  it('files a circle across the antimeridian on both sides (cell columns that do not divide 360)', () => {
    const sut = new FenceSet([{ name: 'pacific', circle: { lat: 0, lon: 159.5230008, radiusMeters: 2278191 } }]);
    expect(sut.containing(0, -179.9945144)).toEqual([0]);
    expect(sut.containing(0, 179.99)).toEqual([0]);
    expect(sut.containing(0, -170)).toEqual([]);
  });

  it('rejects invalid definitions, listing every problem by path', () => {
    const bad = [
      { name: 'a', circle: { lat: 91, lon: 0, radiusMeters: 10 } },
      { name: 'a', circle: { lat: 0, lon: 0, radiusMeters: -1 } },
      { name: '', polygon: [[0, 0], [0, 1]] },
      { name: 'p', polygon: [[0, 0], [0, 200], [1, 1]] },
      { name: 'q', polygon: [[0, -170], [0, 170], [1, 0]] },
      { name: 'r' },
      { name: 's', circle: { lat: 0, lon: 0, radiusMeters: 1 }, polygon: [] },
      { name: 't', polygon: [[0, 0], [0, 1], [1, 1], [0, 0]] },
      { name: 'u', polygon: [[0, 0], [0, 1], [0, 0], [0, 1]] },
    ];
    expect(validateFences(bad)).toEqual([
      'fences[0].circle: lat 91 is out of range [-85.05112878, 85.05112878]',
      'fences[1].name: "a" is declared twice',
      'fences[1].circle.radiusMeters: must be a positive finite number, got -1',
      'fences[2].name: must be a non-empty string',
      'fences[2].polygon: needs at least 3 distinct vertices',
      'fences[3].polygon[1]: lon 200 is out of range [-180, 180]',
      'fences[4].polygon: spans 340 degrees of longitude; a polygon crossing the antimeridian must be split in two',
      'fences[5]: must have exactly one of circle, polygon',
      'fences[6]: must have exactly one of circle, polygon',
      'fences[8].polygon: needs at least 3 distinct vertices',
    ]);
    expect(() => new FenceSet(bad as FenceDef[])).toThrow('invalid fences:\nfences[0].circle: lat 91 is out of range');
    expect(validateFences('x')).toEqual(['fences: must be a list of fences']);
  });

  it('reports enter and exit against the previous state of the same member only', () => {
    const sut = new FenceSet([
      { name: 'rect', polygon: [[40.7, -74.02], [40.7, -73.97], [40.75, -73.97], [40.75, -74.02]] },
      { name: 'disc', circle: { lat: 40.72, lon: -73.98, radiusMeters: 1000 } },
    ]);
    expect(sut.update(1, 'a', 40.6, -74, 1)).toEqual([]);
    expect(sut.update(1, 'a', 40.72, -73.98, 2)).toEqual([
      { fence: 'rect', member: 'a', kind: 'enter', lat: 40.72, lon: -73.98, ts: 2 },
      { fence: 'disc', member: 'a', kind: 'enter', lat: 40.72, lon: -73.98, ts: 2 },
    ]);
    expect(sut.update(2, 'b', 40.72, -74.01, 3)).toEqual([{ fence: 'rect', member: 'b', kind: 'enter', lat: 40.72, lon: -74.01, ts: 3 }]);
    expect(sut.update(1, 'a', 40.72, -73.9695, 4)).toEqual([{ fence: 'rect', member: 'a', kind: 'exit', lat: 40.72, lon: -73.9695, ts: 4 }]);
    expect(sut.insideOf(1)).toEqual([1]);
    expect(sut.leave(1, 'a', 40.72, -73.9695, 5)).toEqual([{ fence: 'disc', member: 'a', kind: 'exit', lat: 40.72, lon: -73.9695, ts: 5 }]);
    expect(sut.insideOf(1)).toEqual([]);
    expect(sut.insideOf(2)).toEqual([0]);
  });
});

/** Brute-force collection: positions, and inside/outside per member per fence recomputed from scratch. */
class CollectionModel {
  readonly points = new Map<string, { lat: number; lon: number; lastSeen: number }>();
  readonly inside = new Map<string, number[]>();
  constructor(
    private readonly defs: FenceDef[],
    private readonly ttlMs: number | undefined,
  ) {}

  set(member: string, lat: number, lon: number, ts: number): FenceEvent[] {
    const p = this.points.get(member);
    if (p !== undefined && ts < p.lastSeen) return [];
    const slat = storedLat(lat);
    const slon = storedLon(lon);
    this.points.set(member, { lat: slat, lon: slon, lastSeen: ts });
    const now = bruteContaining(this.defs, slat, slon);
    const before = this.inside.get(member) ?? [];
    const ev = (f: number, kind: 'enter' | 'exit'): FenceEvent => ({ fence: this.defs[f].name, member, kind, lat: slat, lon: slon, ts });
    const events = [...before.filter((f) => !now.includes(f)).map((f) => ev(f, 'exit')), ...now.filter((f) => !before.includes(f)).map((f) => ev(f, 'enter'))];
    this.inside.set(member, now);
    return events;
  }

  remove(member: string, ts: number): FenceEvent[] {
    const p = this.points.get(member);
    if (p === undefined) return [];
    const events = (this.inside.get(member) ?? []).map((f) => ({ fence: this.defs[f].name, member, kind: 'exit' as const, lat: p.lat, lon: p.lon, ts }));
    this.points.delete(member);
    this.inside.delete(member);
    return events;
  }

  expire(now: number): FenceEvent[] {
    const ttl = this.ttlMs;
    if (ttl === undefined) return [];
    const due = [...this.points.entries()]
      .filter(([, p]) => p.lastSeen <= now - ttl)
      .sort(([a, p], [b, q]) => p.lastSeen - q.lastSeen || (a < b ? -1 : 1));
    return due.flatMap(([member, p]) => this.remove(member, p.lastSeen + ttl));
  }

  fencesOf(member: string): string[] {
    return (this.inside.get(member) ?? []).map((f) => this.defs[f].name);
  }
}

type FenceOp =
  | { op: 'burst'; member: string; steps: { pos: [number, number]; dt: number }[] }
  | { op: 'remove'; member: string }
  | { op: 'tick'; dt: number };

const fenceMemberArb = fc.constantFrom('a', 'b', 'c', 'd', 'e');
const fenceOpArb: fc.Arbitrary<FenceOp> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({
      op: fc.constant('burst' as const),
      member: fenceMemberArb,
      // Several positions of one member at (nearly) the same time, sometimes out of order.
      steps: fc.array(fc.record({ pos: fencePositionArb, dt: fc.integer({ min: -5, max: 100 }) }), { minLength: 1, maxLength: 6 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('remove' as const), member: fenceMemberArb }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('tick' as const), dt: fc.integer({ min: 0, max: 3000 }) }) },
);

describe(GeoCollection.name, () => {
  it('emits the enter/exit sequence of a brute-force per-member, per-fence model (bursts, removal, expiry)', () => {
    fc.assert(
      fc.property(fencesArb(25), fc.option(fc.constantFrom(500, 2000), { nil: undefined }), fc.array(fenceOpArb, { minLength: 1, maxLength: 60 }), (defs, ttlMs, ops) => {
        const sut = new GeoCollection({ name: 'drivers', ttlMs, fences: defs });
        const model = new CollectionModel(defs, ttlMs);
        let now = 1_700_000_000_000;
        for (const o of ops) {
          if (o.op === 'burst') {
            for (const s of o.steps) {
              now += Math.max(0, s.dt);
              expect(sut.set(o.member, s.pos[0], s.pos[1], now + Math.min(0, s.dt))).toEqual(model.set(o.member, s.pos[0], s.pos[1], now + Math.min(0, s.dt)));
            }
          } else if (o.op === 'remove') {
            expect(sut.remove(o.member, now)).toEqual(model.remove(o.member, now));
          } else {
            now += o.dt;
            expect(sut.expire(now)).toEqual(model.expire(now));
          }
          for (const m of ['a', 'b', 'c', 'd', 'e']) expect(sut.fencesOf(m)).toEqual(model.fencesOf(m));
          expect(sut.size).toBe(model.points.size);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('does not lose an enter inside a burst (Tile38 issue #522)', () => {
    const sut = new GeoCollection({ name: 'fleet', fences: [{ name: 'depot', circle: { lat: 40.72, lon: -73.98, radiusMeters: 300 } }] });
    const inside: [number, number] = [40.72, -73.98];
    const outside: [number, number] = [40.73, -73.98];
    const burst = [outside, outside, inside, outside, inside, inside];
    const events = burst.flatMap(([lat, lon], i) => sut.set('truck', lat, lon, 1000 + i));
    expect(events.map((e) => `${e.kind}@${e.ts}`)).toEqual(['enter@1002', 'exit@1003', 'enter@1004']);
    expect(sut.fencesOf('truck')).toEqual(['depot']);
  });

  it('exits on removal and on expiry with the last position, expiry at lastSeen + ttl', () => {
    const sut = new GeoCollection({ name: 'fleet', ttlMs: 60_000, fences: [{ name: 'depot', circle: { lat: 40.72, lon: -73.98, radiusMeters: 300 } }] });
    sut.set('a', 40.72, -73.98, 1_000);
    sut.set('b', 40.7201, -73.98, 2_000);
    sut.set('c', 40.8, -73.9, 2_000);
    expect(sut.remove('a', 5_000)).toEqual([{ fence: 'depot', member: 'a', kind: 'exit', lat: 40.72, lon: -73.98, ts: 5_000 }]);
    expect(sut.remove('a', 5_000)).toEqual([]);
    expect(sut.expire(61_999)).toEqual([]);
    expect(sut.expire(70_000)).toEqual([{ fence: 'depot', member: 'b', kind: 'exit', lat: 40.7201, lon: -73.98, ts: 62_000 }]);
    expect(sut.size).toBe(0);
  });

  it('orders the exits of one expiry by (ts, member), whatever the order of arrival', () => {
    const sut = new GeoCollection({ name: 'fleet', ttlMs: 1000, fences: [{ name: 'zone', circle: { lat: 10, lon: 10, radiusMeters: 5000 } }] });
    for (const [m, ts] of [['c', 500], ['a', 500], ['d', 100], ['b', 500]] as const) sut.set(m, 10, 10, ts);
    expect(sut.expire(5000).map((e) => `${e.member}@${e.ts}`)).toEqual(['d@1100', 'a@1500', 'b@1500', 'c@1500']);
  });

  it('rejects invalid positions without touching state', () => {
    const sut = new GeoCollection({ name: 'fleet', fences: [{ name: 'depot', circle: { lat: 40.72, lon: -73.98, radiusMeters: 300 } }] });
    expect(() => sut.set('a', 91, 0, 1)).toThrow('lat 91 is out of range [-85.05112878, 85.05112878]');
    expect(() => sut.set('a', 0, Number.POSITIVE_INFINITY, 1)).toThrow('lon Infinity is not a finite number');
    expect(() => sut.remove('a', Number.NaN)).toThrow('ts NaN is not a finite number (epoch ms)');
    expect(sut.size).toBe(0);
  });
});
