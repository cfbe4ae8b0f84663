import fc from 'fast-check';
import { FeatureModel } from '../../test/support/feature-model.js';
import { InputError } from '../input-error.js';
import { ThresholdWatch, type Crossing } from './threshold-watch.js';
import { WindowedAggregator } from './windows/windowed-aggregator.js';

const T0 = Date.UTC(2026, 10, 25, 12);
const ENTITIES = ['a', 'b', 'c'];

type Agg = 'count' | 'sum' | 'min' | 'max' | 'avg';


const step = fc.record({ gap: fc.integer({ min: 0, max: 4000 }), entity: fc.constantFrom(...ENTITIES), value: fc.integer({ min: -5, max: 20 }) });

/** Crossings in a canonical order: by time, then entity (expire() reports a boundary's crossings in no particular order). */
const canonical = (cs: (Crossing & { at: number })[]) => [...cs].sort((x, y) => x.at - y.at || (x.entity < y.entity ? -1 : x.entity > y.entity ? 1 : 0));

describe(ThresholdWatch.name, () => {
  it.each<[Agg, string, 'above' | 'below', number]>([
    ['count', '5s', 'above', 3],
    ['sum', '5s', 'above', 25],
    ['sum', '1m', 'above', 40],
    ['min', '5s', 'above', 4],
    ['max', '5s', 'above', 12],
    ['avg', '5s', 'above', 6],
    ['count', '5s', 'below', 2],
    ['count', '5s', 'below', 1],
    ['sum', '5s', 'below', 12],
    ['sum', '1m', 'below', 30],
    ['min', '5s', 'below', 3],
    ['max', '5s', 'below', 10],
    ['avg', '5s', 'below', 6],
  ])('pushes %s over %s %s %d exactly when a model evaluated at every event and every tile boundary crosses', (agg, window, direction, threshold) => {
    const windowMs = window === '5s' ? 5_000 : 60_000;
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 120 }), fc.boolean(), fc.array(step, { maxLength: 8 }), (steps, nonNegative, history) => {
        const feature = new WindowedAggregator({ name: 'f', aggregation: agg, windows: [{ label: window, ms: windowMs }] });
        const events = new FeatureModel(agg);
        // Events before the watch exists: `below` arms what is at or above T when it starts.
        // (`above` starts with nothing above: one already above crosses at its next evaluation,
        // the next event or, for aggregations that rise as tiles leave, the next boundary.)
        let now = T0;
        for (const s of direction === 'below' ? history : []) {
          now += s.gap;
          feature.update(s.entity, s.value, now);
          events.add(s.entity, s.value, now);
        }
        const sut = new ThresholdWatch(feature, window, { [direction]: threshold }, now);
        // The model's side of each entity: above T (`above`), at or above T (`below`).
        const markedInModel = new Set<string>();
        const want: (Crossing & { at: number })[] = [];
        const got: (Crossing & { at: number })[] = [];
        const evaluate = (entity: string, at: number, report = true) => {
          const v = events.read(entity, windowMs, at);
          if (direction === 'above') {
            if (v === null || v <= threshold) markedInModel.delete(entity);
            else if (!markedInModel.has(entity)) {
              markedInModel.add(entity);
              if (report) want.push({ entity, value: v, at });
            }
          } else if (v !== null && v >= threshold) markedInModel.add(entity);
          else if (markedInModel.delete(entity) && v !== null && report) want.push({ entity, value: v, at });
        };
        if (direction === 'below') for (const entity of ENTITIES) evaluate(entity, now, false);
        expect(sut.size).toBe(markedInModel.size);
        const boundaries = (until: number) => {
          // Tile boundaries up to `until`: the watch's owner calls expire() at each.
          for (let e = sut.nextExpiryAt(now); e <= until; e = sut.nextExpiryAt(e)) {
            for (const c of sut.expire(e)) got.push({ ...c, at: e });
            for (const entity of ENTITIES) evaluate(entity, e);
          }
        };
        for (const s of steps) {
          const next = now + s.gap;
          boundaries(next);
          now = next;
          const value = nonNegative ? Math.abs(s.value) : s.value;
          const b = sut.before(s.entity, now);
          if (b !== undefined) got.push({ ...b, at: now });
          evaluate(s.entity, now);
          feature.update(s.entity, value, now);
          events.add(s.entity, value, now);
          const c = sut.after(s.entity, now);
          if (c !== undefined) got.push({ ...c, at: now });
          evaluate(s.entity, now);
          // The set holds exactly the entities on the model's marked side.
          expect(sut.size).toBe(markedInModel.size);
        }
        // Long after the last event every window has drained: nothing stays marked, and a
        // drained count crossed `below`.
        boundaries(now + windowMs + 10_000);
        expect(canonical(got)).toEqual(canonical(want));
        if (agg !== 'count' || direction === 'below') expect(sut.size).toBe(0);
      }),
      { numRuns: 150 },
    );
  });

  it('alerts again on a card that went quiet and came back (the report: 1,200, wait, 1,500)', () => {
    const feature = new WindowedAggregator({ name: 'amt', aggregation: 'sum', windows: [{ label: '5s', ms: 5_000 }] });
    const sut = new ThresholdWatch(feature, '5s', { above: 1000 }, T0);
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

  it('crosses `below` when tiles leaving took the value under before an event, with no timer run', () => {
    const feature = new WindowedAggregator({ name: 'beats', aggregation: 'count', windows: [{ label: '5s', ms: 5_000 }] });
    const sut = new ThresholdWatch(feature, '5s', { below: 2 }, T0);
    const event = (at: number) => {
      const b = sut.before('h1', at);
      feature.update('h1', 1, at);
      return [b, sut.after('h1', at)];
    };
    expect(event(T0)).toEqual([undefined, undefined]); // 1: under from the start, never at or above
    expect(event(T0 + 1_000)).toEqual([undefined, undefined]); // 2: armed
    expect(sut.size).toBe(1);
    // 7 s later both beats have left: the next beat finds 0 before it counts itself.
    expect(event(T0 + 8_000)).toEqual([{ entity: 'h1', value: 0 }, undefined]);
    expect(sut.size).toBe(0);
  });

  it('crosses `below` for a heartbeat count the idle sweep freed before the timer ran', () => {
    const feature = new WindowedAggregator({ name: 'beats', aggregation: 'count', windows: [{ label: '5s', ms: 5_000 }] });
    feature.update('h1', 1, T0);
    feature.update('h2', 1, T0);
    const sut = new ThresholdWatch(feature, '5s', { below: 1 }, T0); // both already at 1: armed
    expect(sut.size).toBe(2);
    feature.update('h2', 1, T0 + 4_000);
    const late = T0 + 6_000;
    expect(feature.sweep(late, 100)).toBe(1); // h1 is freed; h2 still has a beat in its window
    expect(feature.has('h1')).toBe(false);
    expect(sut.expire(late)).toEqual([{ entity: 'h1', value: 0 }]);
    expect(sut.size).toBe(1);
  });

  it('treats an emptied window as no value for `below` on aggregations other than count', () => {
    const feature = new WindowedAggregator({ name: 'bal', aggregation: 'sum', windows: [{ label: '5s', ms: 5_000 }] });
    const sut = new ThresholdWatch(feature, '5s', { below: 100 }, T0);
    feature.update('acct', 500, T0);
    expect(sut.after('acct', T0)).toBeUndefined();
    expect(sut.size).toBe(1);
    expect(sut.expire(T0 + 6_000)).toEqual([]); // null: disarmed, no crossing
    expect(sut.size).toBe(0);
    sut.before('acct', T0 + 7_000);
    feature.update('acct', 50, T0 + 7_000);
    expect(sut.after('acct', T0 + 7_000)).toBeUndefined(); // from no value to 50 is no drop
    feature.update('acct', 100, T0 + 7_100);
    expect(sut.after('acct', T0 + 7_100)).toBeUndefined(); // 150: armed again
    feature.update('acct', -80, T0 + 7_200);
    expect(sut.after('acct', T0 + 7_200)).toEqual({ entity: 'acct', value: 70 });
  });

  it.each([
    ['neither', {}, /exactly one/],
    ['both', { above: 1, below: 2 }, /exactly one/],
    ['both null', { above: null, below: null }, /exactly one/],
    ['NaN', { below: Number.NaN }, /must be a number/],
  ])('refuses %s as bad input', (_, threshold, message) => {
    const feature = new WindowedAggregator({ name: 'f', aggregation: 'count', windows: [{ label: '5s', ms: 5_000 }] });
    expect(() => new ThresholdWatch(feature, '5s', threshold, T0)).toThrow(InputError);
    expect(() => new ThresholdWatch(feature, '5s', threshold, T0)).toThrow(message);
  });
});
