import fc from 'fast-check';
import { FeatureModel } from '../../test/support/feature-model.js';
import { FeatureStore } from './feature-store.js';
import { OnlineFeatures } from './online-features.js';
import { ViewStore } from './views/view-store.js';

const T = Date.UTC(2026, 10, 25, 12);
const HOUR = 3_600_000;

function setup() {
  const features = new FeatureStore([
    { name: 'txn_count', aggregation: 'count', windows: [{ label: '5m', ms: 300_000 }, { label: '1h', ms: HOUR }] },
    { name: 'amount_sum', aggregation: 'sum', windows: [{ label: '1h', ms: HOUR }] },
  ]);
  const views = new ViewStore([{ name: 'profile', fields: [{ name: 'limit', type: 'float' }, { name: 'country', type: 'string' }], ttlMs: 2 * HOUR }]);
  return { features, views, sut: new OnlineFeatures(features, views) };
}

describe(OnlineFeatures.name, () => {
  it('mixes view fields and windows per entity, in the order asked, as a brute-force computation does', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ entity: fc.constantFrom('c1', 'c2', 'c3'), amount: fc.integer({ min: 1, max: 100 }), limit: fc.option(fc.integer({ min: 0, max: 5000 })), dt: fc.integer({ min: 0, max: 90 * 60_000 }) }), { maxLength: 60 }),
        fc.shuffledSubarray(['txn_count:5m', 'txn_count:1h', 'amount_sum:1h', 'profile:limit', 'profile:country'], { minLength: 1 }),
        (events, names) => {
          const { features, views, sut } = setup();
          const count = new FeatureModel('count');
          const sum = new FeatureModel('sum');
          const latest = new Map<string, { limit: number; ts: number }>();
          const sorted = [...events].sort((a, b) => a.dt - b.dt);
          for (const e of sorted) {
            const ts = T + e.dt;
            features.update('txn_count', e.entity, 1, ts);
            features.update('amount_sum', e.entity, e.amount, ts);
            count.add(e.entity, 1, ts);
            sum.add(e.entity, e.amount, ts);
            if (e.limit !== null) {
              views.upsert('profile', e.entity, { limit: e.limit }, ts);
              latest.set(e.entity, { limit: e.limit, ts });
            }
          }
          const now = T + HOUR + 30 * 60_000;
          const entities = ['c3', 'c1', 'unknown', 'c2'];
          const rows = sut.fetch(entities, names, now);
          const lastTs = (e: string) => {
            const ts = sorted.filter((x) => x.entity === e).map((x) => T + x.dt);
            return ts.length ? Math.max(...ts) : null;
          };
          expect(rows).toEqual(
            entities.map((entity) => ({
              entity,
              values: names.map((n) => {
                if (n === 'profile:limit') return latest.get(entity)?.limit ?? null;
                if (n === 'profile:country') return null;
                const w = n.endsWith('5m') ? 300_000 : HOUR;
                return (n.startsWith('txn_count') ? count : sum).read(entity, w, now);
              }),
              freshness: names.map((n) => (n === 'profile:limit' ? (latest.get(entity)?.ts ?? null) : n === 'profile:country' ? null : lastTs(entity))),
            })),
          );
        },
      ),
      { numRuns: 100 },
    );
  });

  it('names every unknown feature in one error', () => {
    const { sut } = setup();
    expect(() => sut.plan(['txn_count:1h', 'nope:1h', 'txn_count:2h', 'profile:age', 'profile'])).toThrow(
      'unknown features "nope:1h", "txn_count:2h", "profile:age", "profile" (write feature:window or view:field, e.g. txn_count:5m)',
    );
  });

  it('compiles a feature list once and reuses the plan', () => {
    const { sut } = setup();
    const names = ['txn_count:1h', 'profile:limit'];
    expect(sut.plan(names)).toBe(sut.plan([...names]));
  });
});

describe('OnlineFeatures: on-demand features', () => {
  const onDemand = [
    { name: 'amount_share', inputs: [{ name: 'spent', ref: 'amount_sum:1h' }], request: [{ name: 'amount', type: 'double' as const }], expression: 'amount / spent' },
    { name: 'over_limit', inputs: [{ name: 'lim', ref: 'profile:limit' }, { name: 'spent', ref: 'amount_sum:1h' }], request: [{ name: 'amount', type: 'double' as const }], expression: 'spent + amount > lim' },
    { name: 'abroad', inputs: [{ name: 'home', ref: 'profile:country' }], request: [{ name: 'country', type: 'string' as const }], expression: 'country != home' },
  ];
  const setupDerived = () => {
    const { features, views } = setup();
    return { features, views, sut: new OnlineFeatures(features, views, onDemand) };
  };

  it('computes each value per entity from its inputs and the request context, freshness the oldest input, as a brute-force computation does', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ entity: fc.constantFrom('c1', 'c2', 'c3'), amount: fc.integer({ min: 1, max: 100 }), dt: fc.integer({ min: 0, max: 30 * 60_000 }) }), { maxLength: 30 }),
        fc.array(fc.record({ entity: fc.constantFrom('c1', 'c2', 'c3'), limit: fc.integer({ min: 0, max: 500 }), country: fc.constantFrom('FR', 'US'), dt: fc.integer({ min: 0, max: 30 * 60_000 }) }), { maxLength: 6 }),
        fc.array(fc.record({ amount: fc.double({ min: 0.5, max: 1000, noNaN: true }), country: fc.constantFrom('FR', 'US', 'DE') }), { minLength: 3, maxLength: 3 }),
        (events, profiles, contexts) => {
          const { features, views, sut } = setupDerived();
          const entities = ['c1', 'c2', 'c3'];
          for (const e of events) features.update('amount_sum', e.entity, e.amount, T + e.dt);
          const latest = new Map<string, { limit: number; country: string; ts: number }>();
          for (const p of [...profiles].sort((a, b) => a.dt - b.dt)) {
            views.upsert('profile', p.entity, { limit: p.limit, country: p.country }, T + p.dt);
            latest.set(p.entity, { limit: p.limit, country: p.country, ts: T + p.dt });
          }
          const now = T + HOUR / 2;
          const rows = sut.fetch(entities, ['amount_share', 'over_limit', 'abroad'], now, contexts);
          entities.forEach((entity, i) => {
            const mine = events.filter((e) => e.entity === entity);
            const spent = mine.reduce((n, e) => n + e.amount, 0);
            const spentAt = mine.length === 0 ? null : T + Math.max(...mine.map((e) => e.dt));
            const p = latest.get(entity);
            const ctx = contexts[i];
            expect(rows[i].values).toEqual([
              spentAt === null ? null : ctx.amount / spent,
              spentAt === null || p === undefined ? null : spent + ctx.amount > p.limit,
              p === undefined ? null : ctx.country !== p.country,
            ]);
            expect(rows[i].freshness).toEqual([spentAt, spentAt === null || p === undefined ? null : Math.min(spentAt, p.ts), p === undefined ? null : p.ts]);
          });
        },
      ),
      { numRuns: 200 },
    );
  });

  it('refuses a request whose context lacks a value, has the wrong type, or does not match the entities, naming them', () => {
    const { features, sut } = setupDerived();
    features.update('amount_sum', 'c1', 10, T);
    expect(() => sut.fetch(['c1'], ['amount_share'], T)).toThrow('on-demand feature "amount_share" needs "amount" (double) in the context of entity "c1"');
    expect(() => sut.fetch(['c1'], ['amount_share'], T, [{ amount: '5' }])).toThrow('on-demand feature "amount_share": "amount" of entity "c1" must be a double, got "5"');
    expect(() => sut.fetch(['c1', 'c2'], ['amount_share'], T, [{ amount: 5 }])).toThrow('context has 1 entries for 2 entities');
    expect(sut.fetch(['c1'], ['amount_share', 'amount_sum:1h'], T, [{ amount: 5 }])[0].values).toEqual([0.5, 10]);
    // A value the expression cannot give (x / 0) is null.
    features.update('amount_sum', 'c2', 0, T);
    expect(sut.fetch(['c2'], ['amount_share'], T, [{ amount: 5 }])[0]).toMatchObject({ values: [null], freshness: [null] });
  });
});
