import { jest } from '@jest/globals';
import { DateTimeScalar } from '../../scalars/date-time.scalar.js';
import { toFeatureRowModel } from './feature-row.model.js';

describe(toFeatureRowModel.name, () => {
  it('gives each value its event time as a Date that serialises as a plain one, runs of one time shared', () => {
    const t1 = Date.UTC(2026, 10, 26, 1, 2, 3, 456);
    const t2 = t1 - 3_600_000;
    const row = toFeatureRowModel({ entity: 'c1', values: [1, 2, null, 'FR', 4], freshness: [t1, t1, null, t2, t1] });
    expect(row.entity).toBe('c1');
    expect(row.values).toEqual([1, 2, null, 'FR', 4]);
    expect(row.freshness.map((d) => d && d.toISOString())).toEqual([t1, t1, null, t2, t1].map((t) => t && new Date(t).toISOString()));
    expect(row.freshness.every((d) => d === null || (d instanceof Date && Number.isFinite(d.getTime())))).toBe(true);
    expect(row.freshness[0]).toBe(row.freshness[1]);
    expect(JSON.stringify(row.freshness)).toBe(JSON.stringify([t1, t1, null, t2, t1].map((t) => t && new Date(t))));
  });

  it('is formatted once per distinct event time when the DateTime scalar serialises the row', () => {
    const t1 = Date.UTC(2026, 11, 5, 10, 0, 0, 7);
    const t2 = t1 - 60_000;
    const times = [...Array.from({ length: 10 }, () => t1), null, ...Array.from({ length: 9 }, () => t2)];
    const row = toFeatureRowModel({ entity: 'c1', values: times.map(() => 1), freshness: times });
    const expected = times.map((t) => (t === null ? null : new Date(t).toISOString()));
    const format = jest.spyOn(Date.prototype, 'toISOString');
    let text: (string | null)[];
    try {
      text = row.freshness.map((d) => (d === null ? null : DateTimeScalar.serialize(d)));
      expect(format).toHaveBeenCalledTimes(2);
    } finally {
      format.mockRestore();
    }
    expect(text).toEqual(expected);
  });
});
