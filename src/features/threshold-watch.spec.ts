import fc from 'fast-check';
import { ThresholdWatch, type Crossing } from './threshold-watch.js';
import { tileWidthFor } from './windows/tiling.js';
import { WindowedAggregator } from './windows/windowed-aggregator.js';

const T0 = Date.UTC(2026, 10, 25, 12);
const ENTITIES = ['a', 'b', 'c'];

type Agg = 'count' | 'sum' | 'min' | 'max' | 'avg';

/** The obvious window: every event whose tile overlaps (now - W, now] (tiling.ts), aggregated from scratch. */
function modelValue(agg: Agg, events: { entity: string; ts: number; value: number }[], entity: string, now: number, windowMs: number): number | null {
  const width = tileWidthFor(windowMs);
  const xs = events.filter((e) => e.entity === entity && Math.floor(e.ts / width) * width + width > now - windowMs).map((e) => e.value);
  if (agg === 'count') return xs.length;
  if (xs.length === 0) return null;
  const sum = xs.reduce((a, b) => a + b, 0);
  if (agg === 'sum') return sum;
  if (agg === 'avg') return sum / xs.length;
  return agg === 'min' ? Math.min(...xs) : Math.max(...xs);
}

const step = fc.record({ gap: fc.integer({ min: 0, max: 4000 }), entity: fc.constantFrom(...ENTITIES), value: fc.integer({ min: -5, max: 20 }) });

describe(ThresholdWatch.name, () => {
  it.each<[Agg, string, number]>([
    ['count', '5s', 3],
    ['sum', '5s', 25],
    ['sum', '1m', 40],
    ['min', '5s', 4],
    ['max', '5s', 12],
    ['avg', '5s', 6],
  ])('pushes %s over %s above %d exactly when a model evaluated at every event and every tile boundary crosses', (agg, window, above) => {
    const windowMs = window === '5s' ? 5_000 : 60_000;
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 120 }), fc.boolean(), (steps, nonNegative) => {
        const feature = new WindowedAggregator({ name: 'f', aggregation: agg, windows: [{ label: window, ms: windowMs }] });
        const sut = new ThresholdWatch(feature, window, above);
        const events: { entity: string; ts: number; value: number }[] = [];
        const overInModel = new Set<string>();
        const want: (Crossing & { at: number })[] = [];
        const got: (Crossing & { at: number })[] = [];
        const evaluate = (entity: string, now: number) => {
          const v = modelValue(agg, events, entity, now, windowMs);
          if (v === null || v <= above) overInModel.delete(entity);
          else if (!overInModel.has(entity)) {
            overInModel.add(entity);
            want.push({ entity, value: v, at: now });
          }
        };
        let now = T0;
        for (const s of steps) {
          const next = now + s.gap;
          // Tile boundaries before the event: the watch's owner calls expire() at each.
          for (let e = sut.nextExpiryAt(now); e <= next; e = sut.nextExpiryAt(e)) {
            for (const c of sut.expire(e)) got.push({ ...c, at: e });
            for (const entity of ENTITIES) evaluate(entity, e);
          }
          now = next;
          const value = nonNegative ? Math.abs(s.value) : s.value;
          sut.before(s.entity, now);
          evaluate(s.entity, now);
          feature.update(s.entity, value, now);
          events.push({ entity: s.entity, ts: now, value });
          const c = sut.after(s.entity, now);
          if (c !== undefined) got.push({ ...c, at: now });
          evaluate(s.entity, now);
          // The set holds exactly the entities above the threshold.
          expect(sut.size).toBe(overInModel.size);
        }
        // Long after the last event every window has drained: nothing stays "above".
        const late = now + windowMs + 10_000;
        for (let e = sut.nextExpiryAt(now); e <= late; e = sut.nextExpiryAt(e)) {
          for (const c of sut.expire(e)) got.push({ ...c, at: e });
          for (const entity of ENTITIES) evaluate(entity, e);
        }
        expect(got).toEqual(want);
        if (agg !== 'count') expect(sut.size).toBe(0);
      }),
      { numRuns: 150 },
    );
  });

  it('alerts again on a card that went quiet and came back (the report: 1,200, wait, 1,500)', () => {
    const feature = new WindowedAggregator({ name: 'amt', aggregation: 'sum', windows: [{ label: '5s', ms: 5_000 }] });
    const sut = new ThresholdWatch(feature, '5s', 1000);
    const event = (v: number, at: number) => {
      sut.before('c1', at);
      feature.update('c1', v, at);
      return sut.after('c1', at);
    };
    expect(event(1200, T0)).toEqual({ entity: 'c1', value: 1200 });
    // Nobody runs the timer: the event itself finds the window drained and re-arms first.
    expect(event(1500, T0 + 8_000)).toEqual({ entity: 'c1', value: 1500 });
    expect(sut.size).toBe(1);
    expect(sut.expire(T0 + 20_000)).toEqual([]);
    expect(sut.size).toBe(0);
  });
});
