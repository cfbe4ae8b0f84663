// Leaderboards and geo over GraphQL (embedded mode): queries against brute force, live top-N,
// fence events pushed to subscribers and counted by a feature on the `<index>.fences` source.
import { haversine } from '../../src/geo/index.js';
import { collect, eventually, gql, gqlData, startTally, wsClient, type RunningTally } from '../support/app.js';
import { mulberry32 } from '../support/random.js';

const PIPELINE = `
sources:
  - { name: game_scores }
  - { name: driver_locations, timestamp: ts, lateness: 1h }
leaderboards:
  - { name: top_players, source: game_scores, member: player_id, score: points, mode: incr, period: all }
  - { name: best_run, source: game_scores, member: player_id, score: points, mode: max, period: day, keep: 2 }
geo:
  - name: drivers
    source: driver_locations
    member: driver_id
    lat: lat
    lon: lon
    ttl: 10m
    fences:
      - { name: airport, circle: { lat: 40.6413, lon: -73.7781, radiusMeters: 2000 } }
      - { name: downtown, polygon: [[40.70, -74.02], [40.70, -73.97], [40.75, -73.97], [40.75, -74.02]] }
features:
  - { name: fence_entries, source: drivers.fences, entity: fence, aggregation: count, windows: [15m] }
`;

type Entry = { rank: number; member: string; score: number };

describe('leaderboards and geo over GraphQL', () => {
  let tally: RunningTally;
  const ingest = (source: string, events: unknown[]) =>
    gqlData<{ ingest: { accepted: number; rejected: number } }>(tally.url, 'mutation($s: String!, $e: [JSON!]!) { ingest(source: $s, events: $e) { accepted rejected } }', { s: source, e: events });

  beforeAll(async () => {
    tally = await startTally(PIPELINE);
  });
  afterAll(() => tally.close());

  it('ranks players as a brute-force sort does (score desc, then member bytes desc, as ZREVRANGE)', async () => {
    const rand = mulberry32(5);
    const totals = new Map<string, number>();
    const events = [];
    for (let i = 0; i < 500; i++) {
      const player = `p${Math.floor(rand() * 40)}`;
      const points = Math.floor(rand() * 10);
      totals.set(player, (totals.get(player) ?? 0) + points);
      events.push({ player_id: player, points });
    }
    expect((await ingest('game_scores', events)).ingest.accepted).toBe(500);
    const sorted = [...totals].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? 1 : a[0] > b[0] ? -1 : 0)).map(([member, score], i) => ({ rank: i + 1, member, score }));
    const data = await gqlData<{ top: Entry[]; page: Entry[]; rank: Entry; around: Entry[]; none: Entry | null }>(
      tally.url,
      `{ top: leaderboard(name: "top_players", limit: 40) { rank member score }
         page: leaderboard(name: "top_players", offset: 10, limit: 5) { rank member score }
         rank: leaderboardRank(name: "top_players", member: "${sorted[17].member}") { rank member score }
         around: leaderboardAround(name: "top_players", member: "${sorted[17].member}", radius: 2) { rank member score }
         none: leaderboardRank(name: "top_players", member: "nobody") { rank } }`,
    );
    expect(data.top).toEqual(sorted);
    expect(data.page).toEqual(sorted.slice(10, 15));
    expect(data.rank).toEqual(sorted[17]);
    expect(data.around).toEqual(sorted.slice(15, 20));
    expect(data.none).toBeNull();
  });

  it('keeps the best score per day and answers for the previous period', async () => {
    await ingest('game_scores', [{ player_id: 'solo', points: 50 }, { player_id: 'solo', points: 20 }]);
    const data = await gqlData<{ cur: Entry; prev: Entry[] }>(tally.url, '{ cur: leaderboardRank(name: "best_run", member: "solo") { rank member score } prev: leaderboard(name: "best_run", period: "previous") { member } }');
    expect(data.cur.score).toBe(50);
    expect(data.prev).toEqual([]);
  });

  it('names unknown leaderboards and bad periods', async () => {
    const r = await gql(tally.url, '{ leaderboard(name: "nope") { rank } }');
    expect(r.errors?.[0].message).toBe('unknown leaderboard "nope" (leaderboards: top_players, best_run)');
    const p = await gql(tally.url, '{ leaderboard(name: "best_run", period: "yesterday") { rank } }');
    expect(p.errors?.[0].message).toContain('period "yesterday" is not current, previous or an ISO-8601 date/time');
  });

  it('pushes the top-N first, then when it changes, to every subscriber of the same board', async () => {
    const clients = [wsClient(tally.url), wsClient(tally.url)];
    try {
      const subs = clients.map((c) => collect<{ leaderboardChanged: Entry[] }>(c, 'subscription { leaderboardChanged(name: "top_players", top: 3) { rank member score } }'));
      const first = await Promise.all(subs.map((s) => s.next(1)));
      expect(first[0]).toEqual(first[1]);
      const leader = first[0].leaderboardChanged[0];
      await ingest('game_scores', [{ player_id: 'rocket', points: leader.score + 1000 }]);
      const second = await Promise.all(subs.map((s) => s.next(2)));
      for (const s of second) expect(s.leaderboardChanged[0]).toEqual({ rank: 1, member: 'rocket', score: leader.score + 1000 });
      // A change below the top 3 sends nothing new.
      await ingest('game_scores', [{ player_id: 'minnow', points: 0 }]);
      await new Promise((r) => setTimeout(r, 300));
      expect(subs[0].items).toHaveLength(2);
      subs.forEach((s) => s.dispose());
    } finally {
      await Promise.all(clients.map((c) => c.dispose()));
    }
  });

  it('answers radius, nearest and position queries as brute force over haversine does', async () => {
    const rand = mulberry32(9);
    const ts = Date.now();
    const points = Array.from({ length: 300 }, (_, i) => ({ driver_id: `d${i}`, lat: 40.6 + rand() * 0.2, lon: -74.1 + rand() * 0.2, ts }));
    expect((await ingest('driver_locations', points)).ingest.accepted).toBe(300);
    const c = { lat: 40.7, lon: -74.0 };
    const byDistance = points.map((p) => ({ member: p.driver_id, d: haversine(c.lat, c.lon, p.lat, p.lon) })).sort((a, b) => a.d - b.d || (a.member < b.member ? -1 : 1));
    const data = await gqlData<{ search: { member: string; distanceMeters: number }[]; nearest: { member: string }[]; pos: { lat: number; lon: number; distanceMeters: null } }>(
      tally.url,
      `{ search: geoSearch(index: "drivers", lat: ${c.lat}, lon: ${c.lon}, radiusMeters: 3000, limit: 1000) { member distanceMeters }
         nearest: geoNearest(index: "drivers", lat: ${c.lat}, lon: ${c.lon}, k: 7) { member }
         pos: geoPosition(index: "drivers", member: "d5") { lat lon distanceMeters } }`,
    );
    // Positions are stored quantised (as Redis does): compare away from the boundary.
    const inside = byDistance.filter((p) => p.d < 2999).map((p) => p.member);
    const reported = data.search.map((h) => h.member);
    expect(reported.slice(0, inside.length)).toEqual(inside);
    expect(reported.length - inside.length).toBeLessThanOrEqual(byDistance.filter((p) => p.d >= 2999 && p.d <= 3001).length);
    expect(data.nearest.map((n) => n.member)).toEqual(byDistance.slice(0, 7).map((p) => p.member));
    expect(data.pos.lat).toBeCloseTo(points[5].lat, 5);
    expect(data.pos.lon).toBeCloseTo(points[5].lon, 5);
    expect(data.pos.distanceMeters).toBeNull();
  });

  it('pushes fence enter/exit events and counts entries per fence with a feature on drivers.fences', async () => {
    const client = wsClient(tally.url);
    try {
      const sub = collect<{ geofenceEvents: { fence: string; member: string; kind: string } }>(client, 'subscription { geofenceEvents(index: "drivers", fence: "airport") { fence member kind } }');
      // A fence given as a null variable is no fence: every fence's events (here the airport's).
      const all = collect<{ geofenceEvents: { fence: string; member: string; kind: string } }>(client, 'subscription($f: String) { geofenceEvents(index: "drivers", fence: $f) { fence member kind } }', { f: null });
      await eventually('the subscription to be acknowledged', () => sub.acknowledged, 10_000);
      await new Promise((r) => setTimeout(r, 200));
      const ts = Date.now();
      // A burst: outside, inside, inside, outside, inside, in one request.
      await ingest('driver_locations', [
        { driver_id: 'cab', lat: 40.7, lon: -73.9, ts },
        { driver_id: 'cab', lat: 40.6413, lon: -73.7781, ts: ts + 1 },
        { driver_id: 'cab', lat: 40.645, lon: -73.78, ts: ts + 2 },
        { driver_id: 'cab', lat: 40.7, lon: -73.9, ts: ts + 3 },
        { driver_id: 'cab', lat: 40.64, lon: -73.777, ts: ts + 4 },
      ]);
      await sub.next(3);
      expect(sub.items.map((i) => i.geofenceEvents.kind)).toEqual(['enter', 'exit', 'enter']);
      await all.next(3);
      expect(all.items).toEqual(sub.items);
      const f = await gqlData<{ feature: { value: number } }>(tally.url, '{ feature(name: "fence_entries", entity: "airport", window: "15m") { value } }');
      // Exits count too: the feature counts every fence event of the airport fence.
      expect(f.feature.value).toBe(3);
      sub.dispose();
    } finally {
      await client.dispose();
    }
  });

  it('names unknown indexes and fences, and refuses latitude 91', async () => {
    expect((await gql(tally.url, '{ geoSearch(index: "nope", lat: 1, lon: 1, radiusMeters: 10) { member } }')).errors?.[0].message).toBe('unknown geo index "nope" (indexes: drivers)');
    const r = await gql(tally.url, '{ geoSearch(index: "drivers", lat: 91, lon: 1, radiusMeters: 10) { member } }');
    expect(r.errors?.[0].message).toBeDefined();
    const bad = await ingest('driver_locations', [{ driver_id: 'x', lat: 91, lon: 0, ts: Date.now() }]);
    expect(bad.ingest.rejected).toBe(1);
  });
});
