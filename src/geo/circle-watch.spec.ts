import fc from 'fast-check';
import { CircleWatch, type CircleChange } from './circle-watch.js';
import { haversine } from './distance.js';
import { GeoIndex } from './geo-index.js';

/** The obvious model: positions and circles; membership recomputed from scratch by haversine. */
class BruteForce {
  readonly positions = new Map<string, [number, number]>();
  readonly circles = new Map<number, { lat: number; lon: number; r: number }>();

  inside(c: number, p: [number, number] | undefined): boolean {
    const k = this.circles.get(c)!;
    return p !== undefined && haversine(k.lat, k.lon, p[0], p[1]) <= k.r;
  }

  members(c: number): string[] {
    return [...this.positions].filter(([, p]) => this.inside(c, p)).map(([m]) => m).sort();
  }

  circlesOf(m: string): number[] {
    return [...this.circles.keys()].filter((c) => this.inside(c, this.positions.get(m))).sort((a, b) => a - b);
  }

  /** The events moving `m` from `before` to `after` (undefined = absent) implies, in circle order. */
  events(before: [number, number] | undefined, after: [number, number] | undefined): [number, CircleChange][] {
    const out: [number, CircleChange][] = [];
    for (const c of [...this.circles.keys()].sort((a, b) => a - b)) {
      const was = this.inside(c, before);
      const is = this.inside(c, after);
      if (is) out.push([c, was ? 'move' : 'enter']);
      else if (was) out.push([c, 'exit']);
    }
    return out;
  }
}

const fixed = (min: number, max: number) => fc.integer({ min: Math.ceil(min * 1e7), max: Math.floor(max * 1e7) }).map((q) => q / 1e7);
/** A city, a few repeated spots, the whole world, the antimeridian and the poles' latitudes. */
const positionArb = fc.oneof(
  { weight: 5, arbitrary: fc.tuple(fixed(40.6, 40.9), fixed(-74.1, -73.7)) },
  { weight: 2, arbitrary: fc.constantFrom<[number, number]>([40.75, -73.99], [40.7501, -73.99], [40.75, -73.9899]) },
  { weight: 1, arbitrary: fc.tuple(fixed(-85.05112878, 85.05112878), fixed(-180, 180)) },
  { weight: 1, arbitrary: fc.tuple(fixed(-1, 1), fc.oneof(fixed(179, 180), fixed(-180, -179))) },
  { weight: 1, arbitrary: fc.tuple(fc.oneof(fixed(84, 85.05112878), fixed(-85.05112878, -84)), fixed(-180, 180)) },
);
const radiusArb = fc.oneof(fc.constantFrom(0, 1, 100, 2000, 20_000, 500_000, 3_000_000, 20_037_508), fc.double({ min: 0, max: 50_000, noNaN: true }));
const memberArb = fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'é', '');

type Op =
  | { op: 'add'; pos: [number, number]; r: number }
  | { op: 'remove'; pick: number }
  | { op: 'update'; member: string; pos: [number, number] }
  | { op: 'leave'; member: string };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 2, arbitrary: fc.record({ op: fc.constant('add' as const), pos: positionArb, r: radiusArb }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('remove' as const), pick: fc.nat() }) },
  { weight: 8, arbitrary: fc.record({ op: fc.constant('update' as const), member: memberArb, pos: positionArb }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('leave' as const), member: memberArb }) },
);

describe(CircleWatch.name, () => {
  it('reports enter / move / exit and holds the members that a brute-force haversine model does, through any sequence', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 120 }), (ops) => {
        const sut = new CircleWatch();
        const model = new BruteForce();
        for (const o of ops) {
          const events: [number, CircleChange][] = [];
          const record = (c: number, kind: CircleChange) => events.push([c, kind]);
          if (o.op === 'add') {
            const points = [...model.positions].map(([member, [lat, lon]]) => ({ member, lat, lon }));
            const c = sut.add(o.pos[0], o.pos[1], o.r, points);
            expect(model.circles.has(c)).toBe(false);
            model.circles.set(c, { lat: o.pos[0], lon: o.pos[1], r: o.r });
          } else if (o.op === 'remove') {
            const live = [...model.circles.keys()];
            if (live.length === 0) continue;
            const c = live[o.pick % live.length];
            sut.remove(c);
            model.circles.delete(c);
            expect(() => sut.remove(c)).toThrow(RangeError);
          } else if (o.op === 'update') {
            const expected = model.events(model.positions.get(o.member), o.pos);
            sut.update(o.member, o.pos[0], o.pos[1], record);
            model.positions.set(o.member, o.pos);
            expect(events).toEqual(expected);
          } else {
            const expected = model.events(model.positions.get(o.member), undefined);
            sut.leave(o.member, record);
            model.positions.delete(o.member);
            expect(events).toEqual(expected);
          }
          expect(sut.size).toBe(model.circles.size);
          for (const c of model.circles.keys()) expect([...sut.membersOf(c)].sort()).toEqual(model.members(c));
          for (const m of model.positions.keys()) expect(sut.circlesOf(m)).toEqual(model.circlesOf(m));
        }
      }),
      { numRuns: 300 },
    );
  });

  it('holds exactly what GeoIndex.search returns around the same centre, at the rim too', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(memberArb, positionArb), { maxLength: 40 }), positionArb, radiusArb, (points, centre, r) => {
        const index = new GeoIndex();
        for (const [m, [lat, lon]] of points) index.set(m, lat, lon, 0);
        const sut = new CircleWatch();
        const fromSearch = sut.add(centre[0], centre[1], r, index.search(centre[0], centre[1], r));
        const fromAll = sut.add(centre[0], centre[1], r, index.entries());
        const searched = index.search(centre[0], centre[1], r).map((h) => h.member).sort();
        expect([...sut.membersOf(fromSearch)].sort()).toEqual(searched);
        expect([...sut.membersOf(fromAll)].sort()).toEqual(searched);
        // A point exactly at the radius (a member's own distance) is inside, as for search.
        for (const h of index.search(centre[0], centre[1], Infinity)) {
          const rim = sut.add(centre[0], centre[1], h.distanceMeters, [h]);
          expect(sut.membersOf(rim).has(h.member)).toBe(true);
          sut.remove(rim);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('reuses circle numbers and forgets a removed circle without events', () => {
    const sut = new CircleWatch();
    const a = sut.add(0, 0, 1000);
    const b = sut.add(0, 0, 10);
    const seen: string[] = [];
    sut.update('m', 0, 0, (c, kind) => seen.push(`${c}:${kind}`));
    expect(seen).toEqual([`${a}:enter`, `${b}:enter`]);
    sut.remove(a);
    expect(sut.circlesOf('m')).toEqual([b]);
    const c = sut.add(0, 0.005, 1000, [{ member: 'm', lat: 0, lon: 0 }]);
    expect(c).toBe(a);
    expect(sut.circlesOf('m')).toEqual([a, b]);
    seen.length = 0;
    sut.update('m', 0, 0.0001, (c2, kind) => seen.push(`${c2}:${kind}`));
    expect(seen).toEqual([`${a}:move`, `${b}:exit`]);
    seen.length = 0;
    sut.leave('m', (c2, kind) => seen.push(`${c2}:${kind}`));
    expect(seen).toEqual([`${a}:exit`]);
    expect(sut.circlesOf('m')).toEqual([]);
  });
});
