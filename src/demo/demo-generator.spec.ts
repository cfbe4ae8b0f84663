import { GeoCollection, type FenceEvent } from '../geo/index.js';
import { Router } from '../ingest/router.js';
import { loadPipeline } from '../pipeline/load.js';
import { DemoGenerator, type DemoEvent } from './demo-generator.js';

const pipeline = loadPipeline(); // pipelines/demo.yaml
const T0 = Date.UTC(2026, 10, 25, 12);
const STEP_MS = 250;

/** Every event of `seconds` of demo traffic (start included), with the time of the step that made it. */
function simulate(seconds: number, seed = 42): { events: DemoEvent[]; sentAt: number[] } {
  const g = new DemoGenerator({ seed });
  const events = g.start(T0);
  const sentAt = events.map(() => T0);
  for (let now = T0 + STEP_MS; now <= T0 + seconds * 1000; now += STEP_MS) {
    for (const e of g.step(now)) {
      events.push(e);
      sentAt.push(now);
    }
  }
  return { events, sentAt };
}

describe(DemoGenerator.name, () => {
  const { events, sentAt } = simulate(5 * 60);

  it('makes the same events from the same seed and clock', () => {
    expect(simulate(20).events).toEqual(simulate(20).events);
    expect(simulate(20, 7).events).not.toEqual(simulate(20).events);
  });

  it('writes only events that the demo pipeline accepts', () => {
    const router = new Router(pipeline);
    const refused = events
      .map((e, i) => ({ e, r: router.route(e.source, e.value, sentAt[i]) }))
      .filter(({ r }) => !r.ok)
      .slice(0, 3);
    expect(refused).toEqual([]);
    expect(new Set(events.map((e) => e.source))).toEqual(new Set(['transactions', 'card_updates', 'game_scores', 'driver_locations']));
  });

  it('keys each event by its entity', () => {
    const entity: Record<string, string> = { transactions: 'card_id', card_updates: 'card_id', game_scores: 'player_id', driver_locations: 'driver_id' };
    expect(events.filter((e) => e.key !== e.value[entity[e.source]]).slice(0, 3)).toEqual([]);
  });

  it('has fraudulent bursts that stand out from ordinary cards in a one-minute count', () => {
    const byCard = new Map<string, number[]>();
    for (const e of events) if (e.source === 'transactions') byCard.set(e.key, [...(byCard.get(e.key) ?? []), Number(e.value.ts)]);
    const busiestMinute = (ts: number[]) => Math.max(...ts.map((t) => ts.filter((u) => u >= t && u < t + 60_000).length));
    const peaks = [...byCard.values()].map(busiestMinute).sort((a, b) => b - a);
    const bursts = peaks.filter((n) => n >= 10);
    // a burst every 30-60 s after the first at 8 s: at least 5 in 5 minutes
    expect(bursts.length).toBeGreaterThanOrEqual(5);
    // ordinary cards stay below the dashboard's default alert threshold (8 a minute)
    expect(peaks[bursts.length]).toBeLessThan(8);
    // the first burst starts within 10 s, so the alert stream is not empty for long
    const first = events.findIndex((e) => e.source === 'transactions' && (byCard.get(e.key)?.length ?? 0) >= 10);
    expect(sentAt[first] - T0).toBeLessThan(10_000);
  });

  it('blocks attacked cards after their burst', () => {
    const blocked = events.filter((e) => e.source === 'card_updates' && e.value.blocked === true);
    expect(blocked.length).toBeGreaterThanOrEqual(4);
  });

  it('moves drivers through New York, in and out of the airport and downtown fences', () => {
    const spec = pipeline.geo[0];
    const drivers = new GeoCollection({ name: spec.name, ttlMs: spec.ttlMs, fences: spec.fences });
    const crossings: FenceEvent[] = [];
    for (const e of events) if (e.source === 'driver_locations') crossings.push(...drivers.set(e.key, Number(e.value.lat), Number(e.value.lon), Number(e.value.ts)));
    expect(drivers.size).toBe(60);
    for (const fence of ['airport', 'downtown']) {
      for (const kind of ['enter', 'exit']) expect(crossings.filter((c) => c.fence === fence && c.kind === kind).length).toBeGreaterThan(3);
    }
    const outside = events.filter((e) => e.source === 'driver_locations' && !(Number(e.value.lat) > 40.55 && Number(e.value.lat) < 40.9 && Number(e.value.lon) > -74.1 && Number(e.value.lon) < -73.7));
    expect(outside.slice(0, 3)).toEqual([]);
  });

  it('moves the leaderboards: many players, uneven scores', () => {
    const totals = new Map<string, number>();
    for (const e of events) if (e.source === 'game_scores') totals.set(e.key, (totals.get(e.key) ?? 0) + Number(e.value.points));
    expect(totals.size).toBeGreaterThan(150);
    const sorted = [...totals.values()].sort((a, b) => b - a);
    expect(sorted[0]).toBeGreaterThan(3 * sorted[Math.floor(sorted.length / 2)]);
  });
});
