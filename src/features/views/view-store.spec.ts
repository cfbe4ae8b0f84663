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

describe('View with a vector field', () => {
  const VFIELDS = [
    { name: 'country', type: 'string' },
    { name: 'blocked', type: 'boolean' },
    { name: 'emb', type: 'vector', dims: 2, metric: 'l2' as const },
  ];
  const at = (x: number, y: number) => [x, y];

  it('reads a vector back as its numbers, and searches it among live entities only, nearest first', () => {
    const sut = new View({ name: 'cards', fields: VFIELDS, ttlMs: 60_000 });
    sut.upsert('a', { country: 'FR', blocked: false, emb: at(0, 0) }, T);
    sut.upsert('b', { country: 'FR', blocked: true, emb: at(1, 0) }, T + 30_000);
    sut.upsert('c', { country: 'DE', blocked: false, emb: at(3, 0) }, T + 30_000);
    expect(sut.read('b', T + 30_000)?.values.emb).toEqual([1, 0]);
    expect(sut.readField('c', sut.indexOf('emb'), T + 30_000)).toEqual({ value: [3, 0], ts: T + 30_000 });
    expect(sut.similar({ field: 'emb', k: 2, vector: [0.2, 0] }, T + 30_000)).toEqual([
      { entity: 'a', distance: expect.closeTo(0.2, 6) },
      { entity: 'b', distance: expect.closeTo(0.8, 6) },
    ]);
    // `a` expires at T + 60 s: gone from results before any sweep.
    expect(sut.similar({ field: 'emb', k: 2, vector: [0.2, 0] }, T + 60_001).map((h) => h.entity)).toEqual(['b', 'c']);
    expect(sut.sweep(T + 60_001, 10)).toBe(1);
    expect(sut.vectorIndex(sut.indexOf('emb'))!.size).toBe(2);
  });

  it('filters with where: over the other fields, searches near an entity without it, and drops a vector set to null', () => {
    const sut = new View({ name: 'cards', fields: VFIELDS });
    sut.upsert('a', { country: 'FR', blocked: false, emb: at(0, 0) }, T);
    sut.upsert('b', { country: 'FR', blocked: true, emb: at(1, 0) }, T);
    sut.upsert('c', { country: 'DE', blocked: false, emb: at(2, 0) }, T);
    sut.upsert('d', { country: 'FR', emb: at(5, 0) }, T);
    expect(sut.similar({ field: 'emb', k: 3, vector: [0, 0], where: 'country == "FR" && !blocked' }, T).map((h) => h.entity)).toEqual(['a']);
    expect(sut.similar({ field: 'emb', k: 2, entity: 'b' }, T)).toEqual([
      { entity: 'a', distance: 1 },
      { entity: 'c', distance: 1 },
    ]);
    expect(sut.similar({ field: 'emb', k: 2, entity: 'nobody' }, T)).toEqual([]);
    sut.upsert('a', { emb: null }, T + 1);
    expect(sut.read('a', T + 1)?.values.emb).toBeNull();
    expect(sut.similar({ field: 'emb', k: 1, vector: [0, 0] }, T + 1).map((h) => h.entity)).toEqual(['b']);
    // An update moves the vector: the old position is not found again.
    sut.upsert('c', { emb: at(100, 0) }, T + 2);
    expect(sut.similar({ field: 'emb', k: 4, vector: [2, 0] }, T + 2).map((h) => h.entity)).toEqual(['b', 'd', 'c']);
  });

  it('names what is wrong with a query', () => {
    const sut = new View({ name: 'cards', fields: VFIELDS });
    sut.upsert('a', { emb: at(0, 0) }, T);
    expect(() => sut.similar({ field: 'country', k: 1, vector: [0, 0] }, T)).toThrow('view "cards" has no vector field "country" (vector fields: emb)');
    expect(() => sut.similar({ field: 'emb', k: 1, vector: [0, 0, 1] }, T)).toThrow('vector has 3 numbers; field "emb" of view "cards" is vector(2)');
    expect(() => sut.similar({ field: 'emb', k: 1 }, T)).toThrow('exactly one of vector and entity');
    expect(() => sut.similar({ field: 'emb', k: 1, vector: [0, 0], entity: 'a' }, T)).toThrow('exactly one of vector and entity');
    expect(() => sut.similar({ field: 'emb', k: 0, vector: [0, 0] }, T)).toThrow('k must be a positive integer');
    expect(() => sut.similar({ field: 'emb', k: 1, vector: [0, 0], where: 'contry == "FR"' }, T)).toThrow(/where "contry == \\"FR\\"" is not a condition over the fields of view "cards" \(country, blocked\): .*contry/);
    expect(() => sut.similar({ field: 'emb', k: 1, vector: [0, 0], where: 'emb == 1' }, T)).toThrow(/emb/);
  });

  it('answers as a scan of the live, passing entities would, whatever the updates, deletes and expiry', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ entity: fc.integer({ min: 0, max: 30 }), x: fc.integer({ min: -50, max: 50 }), y: fc.integer({ min: -50, max: 50 }), drop: fc.boolean(), ts: fc.integer({ min: 0, max: 100 }), country: fc.constantFrom('FR', 'DE') }), { maxLength: 120 }),
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 0, max: 150 }),
        (events, k, now) => {
          const sut = new View({ name: 'cards', fields: VFIELDS, ttlMs: 40 });
          for (const e of events) sut.upsert(String(e.entity), { country: e.country, emb: e.drop ? null : at(e.x, e.y) }, e.ts);
          sut.sweep(now, 5);
          const model: { entity: string; distance: number }[] = [];
          for (let i = 0; i <= 30; i++) {
            const r = sut.read(String(i), now);
            if (r === null || r.values.emb === null || r.values.country !== 'FR') continue;
            const [x, y] = r.values.emb as number[];
            model.push({ entity: String(i), distance: Math.hypot(x - 1, y + 2) });
          }
          const got = sut.similar({ field: 'emb', k, vector: [1, -2], where: 'country == "FR"' }, now);
          expect(got.map((h) => h.distance)).toEqual(model.map((h) => h.distance).sort((a, b) => a - b).slice(0, k).map((d) => expect.closeTo(d, 5)));
        },
      ),
    );
  });
});
