import fc from 'fast-check';
import { UnknownFeatureError } from '../feature-store.js';
import { View, ViewStore } from './view-store.js';

const T = Date.UTC(2026, 10, 25, 12);
const FIELDS = [
  { name: 'limit', type: 'float' },
  { name: 'tier', type: 'int' },
  { name: 'country', type: 'string' },
  { name: 'blocked', type: 'boolean' },
  { name: 'emb', type: 'float[]' },
];

describe(View.name, () => {
  it('upserts only the fields an event carries', () => {
    const sut = new View({ name: 'p', fields: FIELDS });
    sut.upsert('c1', { limit: 500, country: 'FR' }, T);
    sut.upsert('c1', { tier: 2, emb: [0.5, -1] }, T + 1);
    expect(sut.read('c1', T + 2)).toEqual({
      values: { limit: 500, tier: 2, country: 'FR', blocked: null, emb: [0.5, -1] },
      updatedAt: T + 1,
      fieldTimes: { limit: T, tier: T + 1, country: T, blocked: null, emb: T + 1 },
    });
    expect(sut.read('nobody', T)).toBeNull();
  });

  it('never lets an older event overwrite a newer value, and counts it as stale', () => {
    const sut = new View({ name: 'p', fields: FIELDS });
    sut.upsert('c1', { limit: 900, tier: 3 }, T + 10);
    expect(sut.upsert('c1', { limit: 100, blocked: true }, T)).toBe(1);
    expect(sut.read('c1', T + 20)?.values).toMatchObject({ limit: 900, tier: 3, blocked: true });
    expect(sut.readField('c1', sut.indexOf('limit'), T + 20)).toEqual({ value: 900, ts: T + 10 });
    expect(sut.readField('c1', sut.indexOf('blocked'), T + 20)).toEqual({ value: true, ts: T });
    expect(sut.staleUpdates).toBe(1);
  });

  it('agrees with a per-field latest-by-event-time model for any arrival order', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ entity: fc.constantFrom('a', 'b'), field: fc.constantFrom('limit', 'tier'), value: fc.integer(), ts: fc.integer({ min: 0, max: 50 }) }), { maxLength: 80 }),
        (updates) => {
          const sut = new View({ name: 'p', fields: FIELDS });
          const model = new Map<string, { value: number; ts: number }>();
          for (const u of updates) {
            sut.upsert(u.entity, { [u.field]: u.value }, T + u.ts);
            const k = `${u.entity}/${u.field}`;
            const cur = model.get(k);
            // Equal times: the later arrival wins.
            if (cur === undefined || u.ts >= cur.ts) model.set(k, { value: u.value, ts: u.ts });
          }
          for (const entity of ['a', 'b']) {
            const vector = sut.read(entity, T + 100);
            for (const field of ['limit', 'tier']) {
              const m = model.get(`${entity}/${field}`);
              expect(sut.readField(entity, sut.indexOf(field), T + 100)).toEqual(m ? { value: m.value, ts: T + m.ts } : { value: null, ts: null });
              // The whole vector says the same, field by field.
              if (vector !== null) expect([vector.values[field], vector.fieldTimes[field]]).toEqual(m ? [m.value, T + m.ts] : [null, null]);
            }
          }
        },
      ),
    );
  });

  it('expires entities not updated within the TTL for readers at once, and frees them on sweep', () => {
    const sut = new View({ name: 'p', fields: FIELDS, ttlMs: 60_000 });
    sut.upsert('old', { tier: 1 }, T);
    sut.upsert('new', { tier: 1 }, T + 50_000);
    expect(sut.expiresAt('old')).toBe(T + 60_000);
    expect(sut.read('old', T + 60_000)).not.toBeNull();
    expect(sut.read('old', T + 60_001)).toBeNull();
    expect(sut.readField('old', 1, T + 60_001)).toEqual({ value: null, ts: null });
    expect(sut.size).toBe(2);
    expect(sut.sweep(T + 60_001, 10)).toBe(1);
    expect(sut.size).toBe(1);
    expect(sut.read('new', T + 60_001)).not.toBeNull();
    sut.upsert('old', { country: 'DE' }, T + 70_000);
    expect(sut.read('old', T + 70_000)?.values).toMatchObject({ tier: null, country: 'DE' });
    expect(sut.expiresAt('old')).toBe(T + 130_000);
    expect(sut.expiresAt('nobody')).toBeUndefined();
    expect(new View({ name: 'q', fields: FIELDS }).expiresAt('old')).toBeUndefined();
  });
});

describe(ViewStore.name, () => {
  it('names an unknown view, as bad input', () => {
    const sut = new ViewStore([{ name: 'card_profile', fields: FIELDS }]);
    expect(() => sut.read('nope', 'a', T)).toThrow('unknown view "nope" (views: card_profile)');
    expect(() => sut.read('nope', 'a', T)).toThrow(UnknownFeatureError);
  });
});
