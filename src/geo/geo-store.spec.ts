import { GeoCollection, GeoStore, type GeoMemberState } from './geo-store.js';
import type { FenceDef } from './fences.js';

const FENCES: FenceDef[] = [
  { name: 'airport', circle: { lat: 40.6413, lon: -73.7781, radiusMeters: 2000 } },
  { name: 'downtown', polygon: [[40.7, -74.02], [40.7, -73.97], [40.75, -73.97], [40.75, -74.02]] },
];

describe(GeoStore.name, () => {
  it('builds one collection per definition and finds them by name', () => {
    const sut = new GeoStore([{ name: 'drivers', ttlMs: 600_000, fences: FENCES }, { name: 'scooters' }]);
    expect(sut.names).toEqual(['drivers', 'scooters']);
    expect(sut.collection('drivers').fenceNames).toEqual(['airport', 'downtown']);
    expect(sut.get('nope')).toBeUndefined();
    expect(() => sut.collection('nope')).toThrow('unknown geo index "nope"');
    expect([...sut].map((c) => c.name)).toEqual(['drivers', 'scooters']);
    expect(() => new GeoStore([{ name: 'x' }, { name: 'x' }])).toThrow('geo index "x" is declared twice');
  });

  it('expires every collection and groups the exits by index', () => {
    const sut = new GeoStore([{ name: 'drivers', ttlMs: 1000, fences: FENCES }, { name: 'bikes', ttlMs: 5000, fences: FENCES }, { name: 'forever', fences: FENCES }]);
    sut.collection('drivers').set('d1', 40.72, -74, 0);
    sut.collection('bikes').set('b1', 40.64, -73.78, 0);
    sut.collection('forever').set('f1', 40.72, -74, 0);
    expect(sut.expire(2000)).toEqual([{ index: 'drivers', events: [{ fence: 'downtown', member: 'd1', kind: 'exit', lat: 40.72, lon: -74, ts: 1000 }] }]);
    expect(sut.expire(10_000)).toEqual([{ index: 'bikes', events: [{ fence: 'airport', member: 'b1', kind: 'exit', lat: 40.64, lon: -73.78, ts: 5000 }] }]);
    expect(sut.collection('forever').size).toBe(1);
  });

  it('reports every member it expires, fenced or not, once gone from the index, ordered by (time, member)', () => {
    const sut = new GeoStore([{ name: 'drivers', ttlMs: 1000, fences: FENCES }, { name: 'forever' }]);
    const c = sut.collection('drivers');
    c.set('zed', 1, 1, 0); // in no fence
    c.set('amy', 2, 2, 0);
    c.set('d1', 40.72, -74, 0); // downtown
    c.set('late', 3, 3, 500);
    sut.collection('forever').set('f1', 1, 1, 0);
    const seen: [string, string, number, number, number, number, number][] = [];
    const out = sut.expire(1200, (index, p, at) => seen.push([index, p.member, p.lat, p.lon, p.lastSeen, at, sut.collection(index).size]));
    expect(seen).toEqual([
      ['drivers', 'amy', 2, 2, 0, 1000, 1],
      ['drivers', 'd1', 40.72, -74, 0, 1000, 1],
      ['drivers', 'zed', 1, 1, 0, 1000, 1],
    ]);
    expect(out).toEqual([{ index: 'drivers', events: [{ fence: 'downtown', member: 'd1', kind: 'exit', lat: 40.72, lon: -74, ts: 1000 }] }]);
    seen.length = 0;
    expect(sut.expire(1500, (index, p, at) => seen.push([index, p.member, p.lat, p.lon, p.lastSeen, at, sut.collection(index).size]))).toEqual([]);
    expect(seen).toEqual([['drivers', 'late', 3, 3, 500, 1500, 0]]);
  });
});

describe(GeoCollection.name, () => {
  it('snapshots positions, last-seen times and fence membership, and restores them without events', () => {
    const a = new GeoCollection({ name: 'drivers', ttlMs: 60_000, fences: FENCES });
    a.set('in-both', 40.72, -74, 1000);
    a.set('airport', 40.6413, -73.7781, 2000);
    a.set('outside', 41, -75, 3000);
    const snapshot: GeoMemberState[] = [...a.entries()];
    expect(snapshot).toEqual([
      { member: 'in-both', lat: 40.72, lon: -74, lastSeen: 1000, fences: ['downtown'] },
      { member: 'airport', lat: 40.6413, lon: -73.7781, lastSeen: 2000, fences: ['airport'] },
      { member: 'outside', lat: 41, lon: -75, lastSeen: 3000, fences: [] },
    ]);
    const b = new GeoCollection({ name: 'drivers', ttlMs: 60_000, fences: FENCES });
    expect(b.restore(JSON.parse(JSON.stringify(snapshot)) as GeoMemberState[])).toBe(3);
    expect([...b.entries()]).toEqual(snapshot);
    // The next update and the expiry behave as if there had been no restart.
    expect(b.set('in-both', 40.8, -74, 4000)).toEqual(a.set('in-both', 40.8, -74, 4000));
    expect(b.expire(100_000)).toEqual(a.expire(100_000));
  });

  it('drops fences unknown at restore and enters fences added since on the next update', () => {
    const b = new GeoCollection({ name: 'drivers', fences: [FENCES[1]] });
    b.restore([{ member: 'm', lat: 40.6413, lon: -73.7781, lastSeen: 1, fences: ['airport', 'gone'] }]);
    expect(b.fencesOf('m')).toEqual([]);
    const c = new GeoCollection({ name: 'drivers', fences: FENCES });
    c.restore([{ member: 'm', lat: 40.72, lon: -74, lastSeen: 1, fences: [] }]);
    expect(c.set('m', 40.7201, -74, 2)).toEqual([{ fence: 'downtown', member: 'm', kind: 'enter', lat: 40.7201, lon: -74, ts: 2 }]);
  });

  it('delegates queries to its index', () => {
    const c = new GeoCollection({ name: 'drivers' });
    c.set('a', 40.72, -74, 1);
    c.set('b', 40.73, -74, 1);
    expect(c.search(40.72, -74, 2000, 10).map((h) => h.member)).toEqual(['a', 'b']);
    expect(c.nearest(40.735, -74, 1).map((h) => h.member)).toEqual(['b']);
    expect(c.position('a')).toEqual({ member: 'a', lat: 40.72, lon: -74, lastSeen: 1 });
    expect(c.distance('a', 'b')).toBeCloseTo(1112.2, 0);
    expect(c.fencesOf('zzz')).toEqual([]);
  });
});
