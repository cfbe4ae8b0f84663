import fc from 'fast-check';
import { haversine } from '../../geo/index.js';
import { parsePipeline } from '../../pipeline/load.js';
import { ingestPathFor, singleInstanceGather } from '../../../test/support/stores.js';
import { GeoLiveService } from './geo-live.service.js';
import { GeoService } from './geo.service.js';
import type { GeoMove } from './models/geo-move.model.js';
import type { GeoWithinEvent } from './models/geo-within-event.model.js';

const pipeline = parsePipeline(
  `
sources: [{ name: pos, timestamp: ts, lateness: 1h }]
geo: [{ name: cars, source: pos, member: car, lat: lat, lon: lon, ttl: 1m }]
`,
  'test',
);
const T0 = Date.UTC(2026, 10, 26, 12);
const C = { lat: 40.75, lon: -73.99, r: 1000 };

function setup() {
  let now = T0;
  const clock = () => now;
  const { stores, changes, processor } = ingestPathFor(pipeline, clock);
  const sut = new GeoLiveService(new GeoService(stores.geo, changes, singleInstanceGather(stores)), changes);
  return {
    sut,
    changes,
    cars: stores.geo.collection('cars'),
    send: (events: { car: string; lat: number; lon: number; dt: number }[]) => {
      processor.ingest(
        'pos',
        events.map((e) => ({ car: e.car, lat: e.lat, lon: e.lon, ts: (now += e.dt) })),
      );
    },
    expire: (ms: number) => processor.expire((now += ms)),
  };
}

const IDLE = Symbol('idle');
/** Two turns of the event loop: enough for a queue to release what was offered. */
const idle = () => new Promise<typeof IDLE>((r) => setImmediate(() => setImmediate(() => r(IDLE))));

/** Reads a subscription: `settle()` collects every message ready now, keeping one pull outstanding. */
function reader<T>(q: AsyncIterator<T>) {
  const got: T[] = [];
  let pending = q.next();
  return {
    got,
    async settle(): Promise<T[]> {
      for (;;) {
        const r = await Promise.race([pending, idle()]);
        if (r === IDLE) return got;
        got.push(r.value);
        pending = q.next();
      }
    },
  };
}

/** The members a client holds after `messages`, failing on an enter of a member it holds, a move or exit of one it does not. */
function fold(messages: readonly GeoWithinEvent[]): Map<string, GeoWithinEvent> {
  const inside = new Map<string, GeoWithinEvent>();
  for (const e of messages) {
    if (inside.has(e.member) !== (e.kind !== 'enter')) throw new Error(`${e.kind} of ${e.member}, which the client ${inside.has(e.member) ? 'holds' : 'does not hold'}`);
    if (e.kind === 'exit') inside.delete(e.member);
    else inside.set(e.member, e);
  }
  return inside;
}

const coord = (centre: number, spread: number) => fc.integer({ min: -spread, max: spread }).map((d) => Math.round((centre + d * 1e-4) * 1e7) / 1e7);
const eventArb = fc.record({ car: fc.constantFrom('a', 'b', 'c', 'd', 'e'), lat: coord(C.lat, 150), lon: coord(C.lon, 150), dt: fc.integer({ min: 0, max: 20_000 }) });
type Step = { op: 'send'; events: { car: string; lat: number; lon: number; dt: number }[] } | { op: 'pull' } | { op: 'expire'; ms: number } | { op: 'join' };
const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ op: fc.constant('send' as const), events: fc.array(eventArb, { minLength: 1, maxLength: 8 }) }) },
  { weight: 3, arbitrary: fc.constant({ op: 'pull' as const }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('expire' as const), ms: fc.integer({ min: 0, max: 70_000 }) }) },
  { weight: 1, arbitrary: fc.constant({ op: 'join' as const }) },
);

describe(GeoLiveService.name, () => {
  it('geoWithin: after every pull each subscriber holds exactly the members a brute-force radius test finds, at their positions', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(stepArb, { maxLength: 40 }), async (steps) => {
        const { sut, cars, send, expire } = setup();
        const subs = [reader(sut.within('cars', C.lat, C.lon, C.r))];
        const truth = () =>
          [...cars.entries()]
            .filter((p) => haversine(C.lat, C.lon, p.lat, p.lon) <= C.r)
            .map((p) => [p.member, p.lat, p.lon, new Date(p.lastSeen).toISOString()])
            .sort();
        for (const s of [...steps, { op: 'pull' as const }]) {
          if (s.op === 'send') send(s.events);
          else if (s.op === 'expire') expire(s.ms);
          else if (s.op === 'join') subs.push(reader(sut.within('cars', C.lat, C.lon, C.r)));
          else {
            for (const r of subs) {
              const held = [...fold(await r.settle()).values()].map((e) => [e.member, e.lat, e.lon, e.reportedAt.toISOString()]).sort();
              expect(held).toEqual(truth());
            }
          }
        }
      }),
      { numRuns: 150 },
    );
  });

  it('geoWithin: a member that came and went between two pulls sends nothing; one that left and came back sends a move; TTL exits say gone', async () => {
    const { sut, send, expire } = setup();
    const r = reader(sut.within('cars', C.lat, C.lon, C.r));
    send([{ car: 'stay', lat: C.lat, lon: C.lon, dt: 1 }]);
    expect((await r.settle()).map((e) => [e.member, e.kind])).toEqual([['stay', 'enter']]);
    send([
      { car: 'flash', lat: C.lat, lon: C.lon, dt: 1 },
      { car: 'stay', lat: 41, lon: C.lon, dt: 1 },
      { car: 'flash', lat: 41, lon: C.lon, dt: 1 },
      { car: 'stay', lat: C.lat + 1e-3, lon: C.lon, dt: 1 },
    ]);
    expect((await r.settle()).slice(1).map((e) => [e.member, e.kind, e.lat])).toEqual([['stay', 'move', C.lat + 1e-3]]);
    expire(60_000);
    const exit = (await r.settle()).at(-1)!;
    expect([exit.member, exit.kind, exit.gone, exit.at.getTime() - exit.reportedAt.getTime()]).toEqual(['stay', 'exit', true, 60_000]);
  });

  it('geoMoved: the current position first, the latest of a burst, gone on expiry; nothing for other members', async () => {
    const { sut, send, expire, changes } = setup();
    send([{ car: 'a', lat: 1, lon: 2, dt: 1 }]);
    const r = reader<GeoMove>(sut.moved('cars', 'a'));
    expect((await r.settle()).map((m) => [m.lat, m.lon, m.gone])).toEqual([[1, 2, false]]);
    send([
      { car: 'a', lat: 1.1, lon: 2, dt: 1 },
      { car: 'b', lat: 5, lon: 5, dt: 1 },
      { car: 'a', lat: 1.2, lon: 2, dt: 1 },
    ]);
    expect((await r.settle()).slice(1).map((m) => [m.member, m.lat])).toEqual([['a', 1.2]]);
    send([{ car: 'a', lat: 9, lon: 9, dt: -10 }]); // older than a's last report: ignored, nothing sent
    expect(await r.settle()).toHaveLength(2);
    expire(61_000);
    expect((await r.settle()).slice(2).map((m) => [m.member, m.lat, m.gone])).toEqual([['a', 1.2, true]]);
    expect(changes.listening('geo', 'cars')).toBe(true);
  });

  it('shares one circle between subscribers and lets go of the change feed when the last one leaves', async () => {
    const { sut, send, changes } = setup();
    send([{ car: 'a', lat: C.lat, lon: C.lon, dt: 1 }]);
    const q1 = sut.within('cars', C.lat, C.lon, C.r);
    const q2 = sut.within('cars', C.lat, C.lon, C.r);
    const [r1, r2] = [reader(q1), reader(q2)];
    send([{ car: 'b', lat: C.lat, lon: C.lon, dt: 1 }]);
    const [m1, m2] = [await r1.settle(), await r2.settle()];
    expect(m1.map((e) => e.member)).toEqual(['a', 'b']);
    expect(m2[1]).toBe(m1[1]); // one event object per change for every subscriber of the circle
    const q3 = sut.moved('cars', 'a');
    await q1.return?.();
    await q2.return?.();
    expect(changes.listening('geo', 'cars')).toBe(true);
    await q3.return?.();
    expect(changes.listening('geo', 'cars')).toBe(false);
    expect(() => sut.within('nope', 0, 0, 1)).toThrow('unknown geo index "nope" (indexes: cars)');
    expect(changes.listening('geo', 'nope')).toBe(false);
  });
});
