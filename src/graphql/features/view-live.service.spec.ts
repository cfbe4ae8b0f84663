import { jest } from '@jest/globals';
import { parsePipeline } from '../../pipeline/load.js';
import { ingestPathFor } from '../../../test/support/stores.js';
import type { FeatureVector } from './models/feature-vector.model.js';
import { ViewLiveService } from './view-live.service.js';

const pipeline = parsePipeline(
  `
sources: [{ name: p, timestamp: ts, lateness: 400d }]
views:
  - { name: profile, source: p, entity: user, fields: { tier: int, country: string }, ttl: 30d }
`,
  'test',
);
const T0 = Date.UTC(2026, 10, 26, 12);
const DAY = 86_400_000;

/** The service over real stores and the real ingest path, with a clock and timers the test moves. */
function setup() {
  let now = T0;
  const clock = () => now;
  const { stores, changes, processor } = ingestPathFor(pipeline, clock);
  const sut = new ViewLiveService(stores.views, changes, clock);
  return {
    sut,
    send: (fields: Record<string, unknown>, ts = now) => processor.ingest('p', [{ user: 'u', ...fields, ts }]),
    /** Moves the clock and the fake timers together. */
    advance: (ms: number) => {
      now += ms;
      jest.advanceTimersByTime(ms);
    },
  };
}

const IDLE = Symbol('idle');
/** Two turns of the event loop: enough for a queue to release what was offered (setImmediate, left real). */
const idle = () => new Promise<typeof IDLE>((r) => setImmediate(() => setImmediate(() => r(IDLE))));

/** Reads a subscription: `settle()` collects every message ready now, keeping one pull outstanding. */
function reader(q: AsyncIterator<FeatureVector | null>) {
  const got: (FeatureVector | null)[] = [];
  let pending = q.next();
  return {
    got,
    async settle(): Promise<(FeatureVector | null)[]> {
      for (;;) {
        const r = await Promise.race([pending, idle()]);
        if (r === IDLE) return got;
        got.push(r.value);
        pending = q.next();
      }
    },
  };
}

describe(ViewLiveService.name, () => {
  beforeEach(() => jest.useFakeTimers({ doNotFake: ['setImmediate', 'nextTick', 'queueMicrotask'] }));
  afterEach(() => jest.useRealTimers());

  it('pushes null exactly when a 30-day TTL expires the vector, past the longest timer Node takes', async () => {
    const { sut, send, advance } = setup();
    const timers = jest.spyOn(globalThis, 'setTimeout');
    send({ tier: 1 });
    const q = sut.viewUpdated('profile', 'u');
    const r = reader(q);
    expect((await r.settle()).map((v) => v?.values)).toEqual([{ tier: 1, country: null }]);
    // The timer is armed in steps of at most 2^31 - 1 ms (~24.8 days): the first fires, re-reads, sends nothing.
    advance(25 * DAY);
    expect(await r.settle()).toHaveLength(1);
    advance(5 * DAY - 1);
    expect(await r.settle()).toHaveLength(1); // the last readable millisecond
    advance(2);
    expect(await r.settle()).toEqual([expect.objectContaining({ values: { tier: 1, country: null } }), null]);
    // A longer delay would fire at once in Node (TimeoutOverflowWarning).
    expect(Math.max(...timers.mock.calls.map((c) => Number(c[1] ?? 0)))).toBe(2 ** 31 - 1);
    // An event brings it back; one older than the field it carries changes nothing and sends nothing.
    send({ tier: 2 });
    await r.settle();
    send({ tier: 9 }, T0);
    await r.settle();
    expect(r.got.slice(2).map((v) => v?.values)).toEqual([{ tier: 2, country: null }]);
    expect(r.got[2]?.fieldTimes).toEqual({ tier: new Date(T0 + 30 * DAY + 1).toISOString(), country: null });
    // A second subscriber starts from the current vector, the same object as the first got.
    const late = reader(sut.viewUpdated('profile', 'u'));
    expect(await late.settle()).toEqual([r.got[2]]);
    expect(late.got[0]).toBe(r.got[2]);
    expect(sut.watched).toBe(1);
    await q.return?.();
    expect(sut.watched).toBe(1);
  });

  it('sends nothing first for an unknown entity, and names an unknown view', async () => {
    const { sut, send } = setup();
    expect(() => sut.viewUpdated('nope', 'u')).toThrow('unknown view "nope" (views: profile)');
    const r = reader(sut.viewUpdated('profile', 'u'));
    expect(await r.settle()).toEqual([]);
    send({ country: 'FR' });
    expect((await r.settle()).map((v) => v?.values)).toEqual([{ tier: null, country: 'FR' }]);
  });
});
