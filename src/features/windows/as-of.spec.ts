import fc from 'fast-check';
import { WindowedAggregator, type WindowDefinition } from './windowed-aggregator.js';
import { View } from '../views/view-store.js';
import { FeatureModel } from '../../../test/support/feature-model.js';
import { AGGREGATIONS, type Aggregation } from '../../pipeline/pipeline.js';

const SEC = 1_000;
const MIN = 60 * SEC;
const HOUR = 60 * MIN;
const WINDOWS: WindowDefinition[] = [
  { label: '1m', ms: MIN },
  { label: '5m', ms: 5 * MIN },
  { label: '1h', ms: HOUR },
];
const T0 = Date.UTC(2026, 10, 25, 12, 0, 0);
const HISTORY = 6 * HOUR;

/** Events over a few entities, mostly in order, some out of order, with values that make float sums order-sensitive. */
const streamArb = fc.array(
  fc.record({
    entity: fc.constantFrom('a', 'b', 'c'),
    value: fc.oneof(fc.integer({ min: 1, max: 1000 }), fc.double({ min: -1e6, max: 1e6, noNaN: true, noDefaultInfinity: true })),
    step: fc.oneof({ weight: 6, arbitrary: fc.integer({ min: 0, max: 20 * SEC }) }, { weight: 2, arbitrary: fc.integer({ min: -3 * MIN, max: 0 }) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: HOUR }) }),
  }),
  { minLength: 1, maxLength: 120 },
);

/** Read moments as fractions of the stream's span (past the end too). */
const momentsArb = fc.array(fc.double({ min: -0.1, max: 1.2, noNaN: true }), { minLength: 1, maxLength: 6 });

interface Fed {
  entity: string;
  value: number | string;
  ts: number;
  /** topk's weight (others ignore it). */
  weight: number;
}

function feed(events: { entity: string; value: number; step: number }[], aggregation: Aggregation): Fed[] {
  let ts = T0;
  return events.map((e) => {
    ts += e.step;
    const value = aggregation === 'distinct' || aggregation === 'topk' ? `m${Math.abs(Math.round(e.value)) % 7}` : e.value;
    return { entity: e.entity, value, ts, weight: Math.abs(e.value) % 50 };
  });
}

describe('as-of reads (history:)', () => {
  it.each<Aggregation>(AGGREGATIONS)('%s: a read at T equals a live read at T of a feature fed only the events with ts <= T, in the same order', (aggregation) => {
    fc.assert(
      fc.property(streamArb, momentsArb, (events, moments) => {
        const fed = feed(events, aggregation);
        const sut = new WindowedAggregator({ name: 'f', aggregation, quantile: 0.9, k: 3, windows: WINDOWS, historyMs: HISTORY });
        for (const e of fed) sut.update(e.entity, e.value, e.ts, e.weight);
        const first = Math.min(...fed.map((e) => e.ts));
        const newest = Math.max(...fed.map((e) => e.ts));
        const now = newest + MIN;
        for (const m of moments) {
          const at = Math.min(now, Math.round(first + m * (newest - first)));
          const reference = new WindowedAggregator({ name: 'f', aggregation, quantile: 0.9, k: 3, windows: WINDOWS });
          for (const e of fed) if (e.ts <= at) reference.update(e.entity, e.value, e.ts, e.weight);
          for (const entity of ['a', 'b', 'c', 'nobody']) {
            for (const w of WINDOWS) {
              const got = sut.readAt(entity, w.label, at, now);
              const want = reference.read(entity, w.label, at);
              expect(got).toEqual(want);
              if (aggregation === 'quantile') expect(sut.readAt(entity, w.label, at, now, 0.5)).toEqual(reference.read(entity, w.label, at, 0.5));
            }
          }
        }
      }),
      { numRuns: 60 },
    );
  });

  it('count, sum, min, max and last equal the brute-force model over the events with ts <= T, and no later event counts', () => {
    for (const aggregation of ['count', 'sum', 'min', 'max', 'last'] as const) {
      fc.assert(
        fc.property(streamArb, momentsArb, (events, moments) => {
          const fed = feed(
            events.map((e) => ({ ...e, value: Math.round(e.value) })),
            aggregation,
          );
          const sut = new WindowedAggregator({ name: 'f', aggregation, windows: WINDOWS, historyMs: HISTORY });
          for (const e of fed) sut.update(e.entity, e.value, e.ts);
          const newest = Math.max(...fed.map((e) => e.ts));
          for (const m of moments) {
            const at = Math.min(newest, Math.round(T0 + m * (newest - T0)));
            const model = new FeatureModel(aggregation);
            for (const e of fed) if (e.ts <= at) model.add(e.entity, e.value, e.ts);
            for (const entity of ['a', 'b', 'c']) for (const w of WINDOWS) expect(sut.readAt(entity, w.label, at, newest).value).toBe(model.read(entity, w.ms, at));
          }
        }),
        { numRuns: 60 },
      );
    }
  });

  it('answers reads within history after pruning and a sweep, and refuses reads outside it naming the oldest time', () => {
    const sut = new WindowedAggregator({ name: 'card_txn_count', aggregation: 'count', windows: [{ label: '1m', ms: MIN }], historyMs: HOUR });
    // One event a second for three hours: the history keeps about 1h + 1m + one tile.
    for (let t = 0; t < 3 * HOUR; t += SEC) sut.update('a', 1, T0 + t);
    const now = T0 + 3 * HOUR;
    // The 1m window at T holds the events of T - 1m ... T, both ends included (61 events).
    expect(sut.readAt('a', '1m', now - HOUR, now).value).toBe(61);
    expect(sut.readAt('a', '1m', now - 30 * MIN, now).value).toBe(61);
    expect(() => sut.readAt('a', '1m', now - HOUR - 1, now)).toThrow(`at: 2026-11-25T13:59:59.999Z is older than feature "card_txn_count" keeps (history: 1h); the oldest time available is 2026-11-25T14:00:00.000Z`);
    expect(() => sut.readAt('a', '1m', now + 1, now)).toThrow('is in the future');
    const plain = new WindowedAggregator({ name: 'plain', aggregation: 'count', windows: [{ label: '1m', ms: MIN }] });
    expect(() => plain.readAt('a', '1m', now, now)).toThrow('feature "plain" keeps no history for at: reads; declare history: (e.g. history: 1d) on it in the pipeline');
    // Idle for 30 minutes: no live window shows it, but an as-of read still may, so it stays.
    expect(sut.sweep(now + 30 * MIN, 10)).toBe(0);
    expect(sut.readAt('a', '1m', now, now + 30 * MIN).value).toBe(60);
    expect(sut.readAt('a', '1m', now - 30 * SEC, now + 30 * MIN).value).toBe(61);
    // Past history + window: freed, history included.
    expect(sut.sweep(now + HOUR + 5 * MIN, 10)).toBe(1);
    expect(sut.history!.size).toBe(0);
  });
});

describe('as-of reads of views (history:)', () => {
  const fieldsArb = fc.array(
    fc.record({
      entity: fc.constantFrom('a', 'b'),
      step: fc.integer({ min: -2 * MIN, max: 5 * MIN }),
      limit: fc.option(fc.integer({ min: 0, max: 100 }), { nil: undefined }),
      country: fc.option(fc.constantFrom('FR', 'US', 'DE'), { nil: undefined }),
    }),
    { minLength: 1, maxLength: 200 },
  );

  it('a read at T equals a live read at T of a view fed only the updates with ts <= T, in the same order, after compactions', () => {
    fc.assert(
      fc.property(fieldsArb, momentsArb, fc.boolean(), (updates, moments, withTtl) => {
        const def = { name: 'profile', fields: [{ name: 'limit', type: 'int' }, { name: 'country', type: 'string' }], ttlMs: withTtl ? 10 * MIN : undefined };
        const sut = new View({ ...def, historyMs: 30 * 24 * HOUR });
        let ts = T0;
        const fed: { entity: string; fields: Record<string, unknown>; ts: number }[] = [];
        for (const u of updates) {
          ts += u.step;
          const fields: Record<string, unknown> = {};
          if (u.limit !== undefined) fields.limit = u.limit;
          if (u.country !== undefined) fields.country = u.country;
          fed.push({ entity: u.entity, fields, ts });
          sut.upsert(u.entity, fields, ts);
        }
        const first = Math.min(...fed.map((e) => e.ts));
        const newest = Math.max(...fed.map((e) => e.ts));
        for (const m of moments) {
          const at = Math.min(newest, Math.round(first + m * (newest - first)));
          const reference = new View(def);
          for (const u of fed) if (u.ts <= at) reference.upsert(u.entity, u.fields, u.ts);
          for (const entity of ['a', 'b', 'nobody']) {
            expect(sut.readAt(entity, at, newest)).toEqual(reference.read(entity, at));
            expect(sut.readFieldAt(entity, 1, at, newest)).toEqual(reference.readField(entity, 1, at));
          }
        }
      }),
      { numRuns: 100 },
    );
  });

  it('keeps what reads within history need when it compacts old versions', () => {
    const v = new View({ name: 'p', fields: [{ name: 'limit', type: 'int' }], historyMs: HOUR });
    v.upsert('a', { limit: 1 }, T0);
    // Many updates much later: compactions drop versions older than the last hour but keep the one in force then.
    for (let i = 0; i < 500; i++) v.upsert('a', { limit: 100 + i }, T0 + 2 * HOUR + i * SEC);
    const now = T0 + 2 * HOUR + 500 * SEC;
    expect(v.readFieldAt('a', 0, now - HOUR, now)).toEqual({ value: 1, ts: T0 });
    expect(v.readFieldAt('a', 0, T0 + 2 * HOUR + 10 * SEC, now)).toEqual({ value: 110, ts: T0 + 2 * HOUR + 10 * SEC });
    expect([...v.versionEntries()][0][1].length).toBeLessThan(3 * 2 * 1000);
    expect(() => v.readAt('a', now - HOUR - 1, now)).toThrow('the oldest time available is');
  });
});
