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
