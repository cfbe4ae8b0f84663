import { ChangeFeed, type Change } from '../changes/change-feed.js';
import { FeatureStore, ViewStore } from '../features/index.js';
import { GeoStore } from '../geo/index.js';
import { LeaderboardStore } from '../leaderboard/index.js';
import { createLogger } from '../ops/logger.js';
import { MemoryGuard } from '../ops/memory-guard.js';
import { Metrics } from '../ops/metrics.js';
import { parsePipeline } from '../pipeline/load.js';
import { EventProcessor } from './event-processor.js';
import { Router } from './router.js';

const pipeline = parsePipeline(`
sources:
  - { name: tx, timestamp: ts, lateness: 1h }
  - { name: scores, timestamp: ts, lateness: 1h }
  - { name: pos, timestamp: ts, lateness: 1h }
features:
  - { name: n, source: tx, entity: card, aggregation: count, windows: [1h] }
views:
  - { name: profile, source: tx, entity: card, fields: { country: string } }
leaderboards:
  - { name: top, source: scores, member: player, score: points, mode: incr, period: day }
geo:
  - { name: drivers, source: pos, member: driver, lat: lat, lon: lon }
`);
const T = Date.UTC(2026, 10, 25, 12);

function setup() {
  let used = 0;
  const features = new FeatureStore(pipeline.features);
  const views = new ViewStore(pipeline.views);
  const leaderboards = new LeaderboardStore(pipeline.leaderboards.map((l) => ({ name: l.name, mode: l.mode, period: l.period })));
  const geo = new GeoStore(pipeline.geo.map((g) => ({ name: g.name })));
  const guard = new MemoryGuard(100, () => used, 1);
  const sut = new EventProcessor(new Router(pipeline), { features, views, leaderboards, geo }, new ChangeFeed<Change>(), new Metrics(), createLogger('silent'), () => T, guard);
  return { sut, features, leaderboards, geo, fill: (bytes: number) => (used = bytes) };
}

describe('EventProcessor with a memory budget', () => {
  it('refuses events of new entities once memory is full, and still applies those of known ones', () => {
    const { sut, features, fill } = setup();
    expect(sut.ingest('tx', [{ card: 'a', country: 'FR', ts: T }]).accepted).toBe(1);
    fill(100);
    const out = sut.ingest('tx', [{ card: 'a', ts: T }, { card: 'b', ts: T }]);
    expect(out.accepted).toBe(1);
    expect(out.errors).toEqual([{ index: 1, message: 'memory-budget: the memory budget (100 bytes) is reached: events of new entities are refused' }]);
    expect(features.read('n', 'a', '1h', T).value).toBe(2);
    expect(features.feature('n').has('b')).toBe(false);
    fill(99);
    expect(sut.ingest('tx', [{ card: 'b', ts: T }]).accepted).toBe(1);
  });

  it('treats a new leaderboard member, a member new to the period, and a new geo member as new entities', () => {
    const { sut, fill } = setup();
    sut.ingest('scores', [{ player: 'p', points: 1, ts: T }]);
    sut.ingest('pos', [{ driver: 'd', lat: 1, lon: 2, ts: T }]);
    fill(1_000);
    const reasons = (source: string, events: unknown[]) => sut.ingest(source, events).errors.map((e) => [e.index, e.message.split(':')[0]]);
    expect(reasons('scores', [{ player: 'p', points: 1, ts: T }, { player: 'q', points: 1, ts: T }, { player: 'p', points: 1, ts: T - 86_400_000 + 1_000 }])).toEqual([
      [1, 'memory-budget'],
      [2, 'memory-budget'],
    ]);
    expect(reasons('pos', [{ driver: 'd', lat: 1.5, lon: 2, ts: T }, { driver: 'e', lat: 1, lon: 2, ts: T }])).toEqual([[1, 'memory-budget']]);
  });
});
