// Every structure has a live feed, and every answer says when its values were true, over
// graphql-ws with the official client: viewUpdated (changes, field times, TTL expiry),
// geoMoved (positions, removal), geoWithin (enter, move inside, exit by moving out and by TTL,
// the initial members, coalescing that never leaves a client's membership view wrong), and the
// freshness fields of leaderboard, geo and feature-vector answers.
import { haversine } from '../../src/geo/index.js';
import { collect, eventually, gqlData, startTally, wsClient, type RunningTally } from '../support/app.js';

const PIPELINE = `
sources:
  - { name: profiles, timestamp: ts, lateness: 1h }
  - { name: scores, timestamp: ts, lateness: 1h }
  - { name: cars, timestamp: ts, lateness: 1h }
  - { name: scooters, timestamp: ts, lateness: 1h }
views:
  - { name: profile, source: profiles, entity: user, fields: { tier: int, country: string }, ttl: 2s }
  - { name: account, source: profiles, entity: user, fields: { tier: int } }
leaderboards:
  - { name: best, source: scores, member: player, score: points, mode: max, period: all }
geo:
  - { name: fleet, source: cars, member: car, lat: lat, lon: lon }
  - { name: scoot, source: scooters, member: id, lat: lat, lon: lon, ttl: 2s }
`;

const iso = (t: number) => new Date(t).toISOString();
/** The centre of the watched circles (Midtown) and points inside and outside 1 km of it. */
const C = { lat: 40.75, lon: -73.99 };
const IN = [
  { lat: 40.751, lon: -73.99 },
  { lat: 40.7505, lon: -73.9895 },
  { lat: 40.749, lon: -73.991 },
];
const OUT = [
  { lat: 40.8, lon: -73.99 },
  { lat: 40.7, lon: -73.95 },
];

interface Vector {
  values: Record<string, unknown>;
  updatedAt: string;
  fieldTimes: Record<string, string | null>;
}
interface Move {
  member: string;
  lat: number;
  lon: number;
  reportedAt: string;
  gone: boolean;
  at: string;
}
interface Within extends Move {
  kind: 'enter' | 'move' | 'exit';
}

const WITHIN = (index: string, radius = 1000) => `subscription { geoWithin(index: "${index}", lat: ${C.lat}, lon: ${C.lon}, radiusMeters: ${radius}) { member kind lat lon reportedAt gone at } }`;

/** The members a client believes inside, folding the messages in order. */
function fold(items: { geoWithin: Within }[]): Map<string, Within> {
  const inside = new Map<string, Within>();
  for (const { geoWithin: e } of items) {
    if (e.kind === 'exit') {
      expect(inside.has(e.member)).toBe(true); // never an exit for a member the client does not hold
      inside.delete(e.member);
    } else {
      expect(inside.has(e.member)).toBe(e.kind === 'move'); // enter only from outside, move only inside
      inside.set(e.member, e);
    }
  }
  return inside;
}

describe('live feeds and freshness', () => {
  let tally: RunningTally;
  const ingest = async (source: string, events: unknown[]) => {
    const r = await gqlData<{ ingest: { accepted: number; rejected: number } }>(tally.url, 'mutation($s: String!, $e: [JSON!]!) { ingest(source: $s, events: $e) { accepted rejected } }', { s: source, e: events });
    expect(r.ingest).toEqual({ accepted: events.length, rejected: 0 });
  };
  const settle = () => new Promise((r) => setTimeout(r, 300));

  beforeAll(async () => {
    tally = await startTally(PIPELINE);
  });
  afterAll(() => tally?.close());

  describe('freshness on every answer', () => {
    it('leaderboard rows carry when the score last changed, in queries and in leaderboardChanged', async () => {
      const t = Date.now() - 60_000;
      await ingest('scores', [
        { player: 'ann', points: 10, ts: t },
        { player: 'bob', points: 5, ts: t + 1 },
        { player: 'ann', points: 3, ts: t + 2 }, // below ann's best: no change, no new time
        { player: 'bob', points: 7, ts: t + 3 },
      ]);
      const q = await gqlData<{ top: unknown[]; rank: unknown; around: unknown[] }>(
        tally.url,
        `{ top: leaderboard(name: "best") { rank member score updatedAt }
           rank: leaderboardRank(name: "best", member: "bob") { rank member score updatedAt }
           around: leaderboardAround(name: "best", member: "ann", radius: 1) { member updatedAt } }`,
      );
      expect(q.top).toEqual([
        { rank: 1, member: 'ann', score: 10, updatedAt: iso(t) },
        { rank: 2, member: 'bob', score: 7, updatedAt: iso(t + 3) },
      ]);
      expect(q.rank).toEqual({ rank: 2, member: 'bob', score: 7, updatedAt: iso(t + 3) });
      expect(q.around).toEqual([
        { member: 'ann', updatedAt: iso(t) },
        { member: 'bob', updatedAt: iso(t + 3) },
      ]);

      const client = wsClient(tally.url);
      try {
        const sub = collect<{ leaderboardChanged: { member: string; score: number; updatedAt: string }[] }>(client, 'subscription { leaderboardChanged(name: "best", top: 2) { member score updatedAt } }');
        expect((await sub.next(1)).leaderboardChanged).toEqual([
          { member: 'ann', score: 10, updatedAt: iso(t) },
          { member: 'bob', score: 7, updatedAt: iso(t + 3) },
        ]);
        await ingest('scores', [{ player: 'bob', points: 12, ts: t + 10 }]);
        expect((await sub.next(2)).leaderboardChanged).toEqual([
          { member: 'bob', score: 12, updatedAt: iso(t + 10) },
          { member: 'ann', score: 10, updatedAt: iso(t) },
        ]);
        sub.dispose();
      } finally {
        await client.dispose();
      }
    });

    it('geo hits carry when their position was reported', async () => {
      const t = Date.now() - 30_000;
      await ingest('cars', [
        { car: 'fresh-1', ...IN[0], ts: t },
        { car: 'fresh-2', ...IN[1], ts: t + 5 },
        { car: 'fresh-2', ...IN[2], ts: t + 9 },
        { car: 'fresh-2', ...OUT[0], ts: t + 7 }, // older than its last report: ignored
      ]);
      const q = await gqlData<{ search: { member: string; reportedAt: string }[]; nearest: { member: string; reportedAt: string }[]; pos: { lat: number; lon: number; reportedAt: string } }>(
        tally.url,
        `{ search: geoSearch(index: "fleet", lat: ${C.lat}, lon: ${C.lon}, radiusMeters: 1000) { member reportedAt }
           nearest: geoNearest(index: "fleet", lat: ${C.lat}, lon: ${C.lon}, k: 10) { member reportedAt }
           pos: geoPosition(index: "fleet", member: "fresh-2") { lat lon reportedAt } }`,
      );
      const times = new Map(q.search.map((h) => [h.member, h.reportedAt]));
      expect(times.get('fresh-1')).toBe(iso(t));
      expect(times.get('fresh-2')).toBe(iso(t + 9));
      expect(q.nearest.find((h) => h.member === 'fresh-2')?.reportedAt).toBe(iso(t + 9));
      expect(q.pos).toEqual({ lat: IN[2].lat, lon: IN[2].lon, reportedAt: iso(t + 9) });
    });

    it('featureVector gives the time of each field', async () => {
      const t = Date.now() - 500; // the profile view keeps a vector 2 s
      await ingest('profiles', [
        { user: 'fv', tier: 1, ts: t },
        { user: 'fv', country: 'SE', ts: t + 4 },
      ]);
      const q = await gqlData<{ featureVector: Vector }>(tally.url, '{ featureVector(view: "account", entity: "fv") { values fieldTimes } }');
      expect(q.featureVector).toEqual({ values: { tier: 1 }, fieldTimes: { tier: iso(t) } });
      const p = await gqlData<{ featureVector: Vector }>(tally.url, '{ featureVector(view: "profile", entity: "fv") { values updatedAt fieldTimes } }');
      expect(p.featureVector).toEqual({ values: { tier: 1, country: 'SE' }, updatedAt: iso(t + 4), fieldTimes: { tier: iso(t), country: iso(t + 4) } });
    });
  });

  describe('viewUpdated', () => {
    it('pushes each change with field times, nothing for a stale event, and null when the TTL expires it', async () => {
      const client = wsClient(tally.url);
      try {
        const q = 'subscription { viewUpdated(view: "profile", entity: "u1") { values updatedAt fieldTimes } }';
        const sub = collect<{ viewUpdated: Vector | null }>(client, q);
        await eventually('the subscription to be acknowledged', () => sub.acknowledged, 10_000);
        await settle();
        expect(sub.items).toEqual([]); // no vector yet: nothing first
        const t = Date.now();
        await ingest('profiles', [{ user: 'u1', tier: 2, ts: t }]);
        expect((await sub.next(1)).viewUpdated).toEqual({ values: { tier: 2, country: null }, updatedAt: iso(t), fieldTimes: { tier: iso(t), country: null } });
        await ingest('profiles', [{ user: 'u1', tier: 1, ts: t - 500 }]); // older than tier's value: changes nothing
        await ingest('profiles', [{ user: 'u1', country: 'DE', ts: t + 1 }]);
        expect((await sub.next(2)).viewUpdated).toEqual({ values: { tier: 2, country: 'DE' }, updatedAt: iso(t + 1), fieldTimes: { tier: iso(t), country: iso(t + 1) } });

        // A second subscriber first gets the vector as it is now.
        const late = collect<{ viewUpdated: Vector | null }>(client, q);
        expect((await late.next(1)).viewUpdated).toEqual(sub.items[1].viewUpdated);

        // 2 s after its newest update the vector expires: both get null, once, with no event.
        const expired = await sub.next(3, 10_000);
        expect(expired.viewUpdated).toBeNull();
        expect(Date.now()).toBeGreaterThanOrEqual(t + 1 + 2_000);
        expect((await late.next(2, 10_000)).viewUpdated).toBeNull();
        expect((await gqlData<{ featureVector: null }>(tally.url, '{ featureVector(view: "profile", entity: "u1") { values } }')).featureVector).toBeNull();
        await settle();
        expect(sub.items).toHaveLength(3);
        expect(sub.errors).toEqual([]);

        // It comes back with the next event (its older fields come back too unless the expired vector was swept meanwhile).
        const t2 = Date.now();
        await ingest('profiles', [{ user: 'u1', tier: 3, ts: t2 }]);
        expect((await sub.next(4)).viewUpdated).toMatchObject({ values: { tier: 3 }, updatedAt: iso(t2), fieldTimes: { tier: iso(t2) } });
        sub.dispose();
        late.dispose();
      } finally {
        await client.dispose();
      }
    });

    it('names an unknown view', async () => {
      const client = wsClient(tally.url);
      try {
        const sub = collect(client, 'subscription { viewUpdated(view: "nope", entity: "u1") { values } }');
        await eventually('the error', () => sub.errors.length > 0, 10_000);
        expect(JSON.stringify(sub.errors)).toContain('unknown view \\"nope\\"');
      } finally {
        await client.dispose();
      }
    });
  });

  describe('geoMoved', () => {
    it("pushes the member's positions with their report times, the latest of a burst, and its removal by TTL", async () => {
      const client = wsClient(tally.url);
      try {
        const sub = collect<{ geoMoved: Move }>(client, 'subscription { geoMoved(index: "scoot", member: "s1") { member lat lon reportedAt gone at } }');
        await eventually('the subscription to be acknowledged', () => sub.acknowledged, 10_000);
        await settle();
        expect(sub.items).toEqual([]); // absent: nothing first
        const t = Date.now();
        await ingest('scooters', [{ id: 's1', ...IN[0], ts: t }]);
        expect((await sub.next(1)).geoMoved).toEqual({ member: 's1', ...IN[0], reportedAt: iso(t), gone: false, at: iso(t) });
        // A hot member: 40 positions in one request reach the client as fewer messages, the last one last.
        await ingest(
          'scooters',
          Array.from({ length: 40 }, (_, i) => ({ id: 's1', lat: 40.75 + i * 1e-4, lon: -73.99, ts: t + 1 + i })),
        );
        await eventually('the last position', () => sub.items.at(-1)?.geoMoved.reportedAt === iso(t + 40), 10_000);
        expect(sub.items.length).toBeLessThan(1 + 40);
        expect(sub.items.at(-1)?.geoMoved).toMatchObject({ lat: 40.7539, lon: -73.99, gone: false });
        // Another member of the index sends nothing here.
        await ingest('scooters', [{ id: 's2', ...IN[1], ts: t + 41 }]);
        // 2 s after its last report, s1 leaves the index: gone, with its last position.
        const n = sub.items.length;
        const gone = (await sub.next(n + 1, 10_000)).geoMoved;
        expect(gone).toEqual({ member: 's1', lat: 40.7539, lon: -73.99, reportedAt: iso(t + 40), gone: true, at: iso(t + 40 + 2_000) });
        expect((await gqlData<{ geoPosition: null }>(tally.url, '{ geoPosition(index: "scoot", member: "s1") { lat } }')).geoPosition).toBeNull();
        expect(sub.errors).toEqual([]);
        sub.dispose();
      } finally {
        await client.dispose();
      }
    });

    it('starts with the current position of a present member', async () => {
      const t = Date.now() - 5_000;
      await ingest('cars', [{ car: 'parked', ...OUT[1], ts: t }]);
      const client = wsClient(tally.url);
      try {
        const sub = collect<{ geoMoved: Move }>(client, 'subscription { geoMoved(index: "fleet", member: "parked") { member lat lon reportedAt gone at } }');
        expect((await sub.next(1)).geoMoved).toEqual({ member: 'parked', ...OUT[1], reportedAt: iso(t), gone: false, at: iso(t) });
        sub.dispose();
      } finally {
        await client.dispose();
      }
    });
  });

  describe('geoWithin', () => {
    it('starts with an enter per member inside, then pushes enter, move inside and exit by moving out', async () => {
      const t = Date.now() - 20_000;
      await ingest('cars', [
        { car: 'w-in', ...IN[0], ts: t },
        { car: 'w-out', ...OUT[0], ts: t },
      ]);
      const client = wsClient(tally.url);
      try {
        const sub = collect<{ geoWithin: Within }>(client, WITHIN('fleet'));
        await eventually('the initial members', () => fold(sub.items).has('w-in'), 10_000);
        await settle();
        // Every member within 1 km now (fresh-1/2 of the freshness test too), each once, as enters.
        const expected = (await gqlData<{ geoSearch: { member: string }[] }>(tally.url, `{ geoSearch(index: "fleet", lat: ${C.lat}, lon: ${C.lon}, radiusMeters: 1000) { member } }`)).geoSearch.map((h) => h.member);
        expect(sub.items.map((i) => i.geoWithin.kind)).toEqual(expected.map(() => 'enter'));
        expect([...fold(sub.items).keys()].sort()).toEqual(expected.sort());
        expect(sub.items.find((i) => i.geoWithin.member === 'w-in')?.geoWithin).toEqual({ member: 'w-in', kind: 'enter', ...IN[0], reportedAt: iso(t), gone: false, at: iso(t) });
        let n = sub.items.length;

        await ingest('cars', [{ car: 'w-out', ...IN[1], ts: t + 1 }]);
        expect((await sub.next(++n)).geoWithin).toEqual({ member: 'w-out', kind: 'enter', ...IN[1], reportedAt: iso(t + 1), gone: false, at: iso(t + 1) });
        await ingest('cars', [{ car: 'w-out', ...IN[2], ts: t + 2 }]);
        expect((await sub.next(++n)).geoWithin).toEqual({ member: 'w-out', kind: 'move', ...IN[2], reportedAt: iso(t + 2), gone: false, at: iso(t + 2) });
        await ingest('cars', [{ car: 'w-out', ...OUT[1], ts: t + 3 }]);
        expect((await sub.next(++n)).geoWithin).toEqual({ member: 'w-out', kind: 'exit', ...OUT[1], reportedAt: iso(t + 3), gone: false, at: iso(t + 3) });
        // Moving about outside the circle sends nothing.
        await ingest('cars', [{ car: 'w-out', ...OUT[0], ts: t + 4 }]);
        await settle();
        expect(sub.items).toHaveLength(n);
        expect(sub.errors).toEqual([]);
        sub.dispose();
      } finally {
        await client.dispose();
      }
    });

    it('coalesces bursts per member without ever leaving the client holding the wrong members', async () => {
      const t = Date.now() - 15_000;
      const client = wsClient(tally.url);
      try {
        const sub = collect<{ geoWithin: Within }>(client, WITHIN('fleet', 800));
        await ingest('cars', [{ car: 'b-anchor', ...IN[0], ts: t }]);
        await eventually('the anchor to enter', () => fold(sub.items).has('b-anchor'), 10_000);
        await settle();
        const n = sub.items.length;
        // One request: b-flash enters and leaves; b-back leaves and comes back; b-walk enters then moves inside.
        await ingest('cars', [
          { car: 'b-flash', ...IN[1], ts: t + 1 },
          { car: 'b-anchor', ...OUT[0], ts: t + 2 },
          { car: 'b-walk', ...IN[2], ts: t + 3 },
          { car: 'b-flash', ...OUT[1], ts: t + 4 },
          { car: 'b-anchor', ...IN[1], ts: t + 5 },
          { car: 'b-walk', ...IN[0], ts: t + 6 },
        ]);
        await eventually('b-walk to be inside', () => fold(sub.items).has('b-walk'), 10_000);
        await settle();
        const burst = sub.items.slice(n).map((i) => [i.geoWithin.member, i.geoWithin.kind, i.geoWithin.reportedAt]);
        expect(burst).toEqual([
          ['b-anchor', 'move', iso(t + 5)],
          ['b-walk', 'enter', iso(t + 6)],
        ]);
        // The client's members equal a radius query's.
        const search = (await gqlData<{ geoSearch: { member: string }[] }>(tally.url, `{ geoSearch(index: "fleet", lat: ${C.lat}, lon: ${C.lon}, radiusMeters: 800) { member } }`)).geoSearch;
        expect([...fold(sub.items).keys()].sort()).toEqual(search.map((h) => h.member).sort());

        // A random walk in many small requests, the client's view checked against the index at the end.
        let seed = 7;
        const rand = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
        for (let round = 0; round < 20; round++) {
          const events = Array.from({ length: 10 }, (_, i) => ({ car: `b-rw${i % 4}`, lat: C.lat + (rand() - 0.5) * 0.02, lon: C.lon + (rand() - 0.5) * 0.02, ts: t + 100 + round * 10 + i }));
          await ingest('cars', events);
        }
        const final = (await gqlData<{ geoSearch: { member: string; lat: number; lon: number }[] }>(tally.url, `{ geoSearch(index: "fleet", lat: ${C.lat}, lon: ${C.lon}, radiusMeters: 800) { member lat lon } }`)).geoSearch;
        const want = final.map((h) => h.member).sort();
        await eventually('the client to hold the members a radius query gives', () => JSON.stringify([...fold(sub.items).keys()].sort()) === JSON.stringify(want), 10_000);
        for (const h of final) expect(fold(sub.items).get(h.member)).toMatchObject({ lat: h.lat, lon: h.lon });
        for (const h of final) expect(haversine(C.lat, C.lon, h.lat, h.lon)).toBeLessThanOrEqual(800);
        expect(sub.errors).toEqual([]);
        sub.dispose();
      } finally {
        await client.dispose();
      }
    });

    it('pushes an exit marked gone when a member inside expires, to every subscriber of the circle', async () => {
      const clients = [wsClient(tally.url), wsClient(tally.url)];
      try {
        const t = Date.now();
        await ingest('scooters', [
          { id: 'ttl-in', ...IN[1], ts: t },
          { id: 'ttl-out', ...OUT[0], ts: t },
        ]);
        const subs = clients.map((c) => collect<{ geoWithin: Within }>(c, WITHIN('scoot')));
        for (const s of subs) expect((await s.next(1)).geoWithin).toMatchObject({ member: 'ttl-in', kind: 'enter' });
        for (const s of subs) {
          const exit = (await s.next(2, 10_000)).geoWithin;
          expect(exit).toEqual({ member: 'ttl-in', kind: 'exit', ...IN[1], reportedAt: iso(t), gone: true, at: iso(t + 2_000) });
          expect(fold(s.items).size).toBe(0);
        }
        // ttl-out expired too, outside the circle: nothing for it.
        await settle();
        for (const s of subs) expect(s.items).toHaveLength(2);
        subs.forEach((s) => s.dispose());
      } finally {
        await Promise.all(clients.map((c) => c.dispose()));
      }
    });

    it('refuses a circle around more members than a subscription follows, and names unknown indexes', async () => {
      const client = wsClient(tally.url);
      try {
        const unknown = collect(client, 'subscription { geoWithin(index: "nope", lat: 0, lon: 0, radiusMeters: 10) { member } }');
        await eventually('the error', () => unknown.errors.length > 0, 10_000);
        expect(JSON.stringify(unknown.errors)).toContain('unknown geo index \\"nope\\"');
        const t = Date.now() - 1_000;
        for (let i = 0; i < 11; i++) await ingest('cars', Array.from({ length: 1_000 }, (_, j) => ({ car: `crowd-${i}-${j}`, lat: -10 + j * 1e-4, lon: 20 + i * 1e-4, ts: t })));
        const crowd = collect(client, 'subscription { geoWithin(index: "fleet", lat: -10, lon: 20, radiusMeters: 50000) { member } }');
        await eventually('the error', () => crowd.errors.length > 0, 10_000);
        expect(JSON.stringify(crowd.errors)).toContain('holds more than 10000 members');
        // A smaller circle there is followed.
        const few = collect<{ geoWithin: Within }>(client, 'subscription { geoWithin(index: "fleet", lat: -10, lon: 20, radiusMeters: 20) { member kind } }');
        await eventually('the members of the small circle', () => few.items.length > 0, 10_000);
        expect(few.errors).toEqual([]);
        few.dispose();
      } finally {
        await client.dispose();
      }
    });
  });
});
