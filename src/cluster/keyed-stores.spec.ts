// Stores a cluster cannot answer exactly (entity other than the message key) are named, and
// their queries are refused in a cluster with the reason; keyed stores and a single instance pass.
import { parsePipeline } from '../pipeline/load.js';
import { ClusterState } from './cluster-state.js';
import { Forwarding } from './forwarding.js';
import { unkeyedStores } from './keyed-stores.js';

const pipeline = parsePipeline(`
sources:
  - { name: tx, key: card_id }
  - { name: plays }
features:
  - { name: card_count, source: tx, entity: card_id, aggregation: count, windows: [1h] }
  - { name: merchant_count, source: tx, entity: merchant_id, aggregation: count, windows: [1h] }
  - { name: pair_count, source: tx, entity: [card_id, merchant_id], aggregation: count, windows: [1h] }
  - { name: play_count, source: plays, entity: player, aggregation: count, windows: [1h] }
views:
  - { name: card, source: tx, entity: card_id, fields: { amount: float } }
leaderboards:
  - { name: teams, source: plays, member: team, score: points, mode: incr, period: all }
on_demand:
  - { name: busy_merchant, inputs: { n: "merchant_count:1h" }, expression: n > 10.0 }
  - { name: busy_card, inputs: { n: "card_count:1h" }, expression: n > 10.0 }
`);

describe('stores keyed by their message key', () => {
  it('names every store whose entity is not its source message key, with the reason', () => {
    const out = unkeyedStores(pipeline);
    expect([...out.keys()].sort()).toEqual(['feature:merchant_count', 'feature:pair_count', 'feature:play_count', 'leaderboard:teams']);
    expect(out.get('feature:merchant_count')).toBe('its entity "merchant_id" is not the message key "card_id" of source "tx"');
    expect(out.get('feature:pair_count')).toContain('composite');
    // plays declares no key and its indexes key by different fields: no store of it is routable.
    expect(out.get('leaderboard:teams')).toContain('has no single message key');
  });

  it('refuses their queries in a cluster only, naming the store', () => {
    const make = (enabled: boolean) => new Forwarding(new ClusterState({ instanceId: 'a', url: 'http://a' }, enabled, () => 0), 'a-secret-of-16-chars', undefined, unkeyedStores(pipeline), new Map((pipeline.onDemand ?? []).map((d) => [d.name, d.inputs.map((i) => i.ref)])));
    const cluster = make(true);
    expect(() => cluster.requireKeyed('feature', 'card_count')).not.toThrow();
    expect(() => cluster.requireKeyed('view', 'card')).not.toThrow();
    expect(() => cluster.requireKeyed('feature', 'merchant_count')).toThrow(/feature "merchant_count" cannot be answered exactly in a cluster: its entity "merchant_id"/);
    expect(() => cluster.requireKeyed('leaderboard', 'teams')).toThrow(/leaderboard "teams"/);
    expect(() => cluster.requireKeyedNames(['card_count:1h', 'card:amount', 'busy_card'])).not.toThrow();
    expect(() => cluster.requireKeyedNames(['card_count:1h', 'busy_merchant'])).toThrow(/merchant_count/);
    expect(() => cluster.requireKeyedNames(['pair_count:1h'])).toThrow(/pair_count/);
    const single = make(false);
    expect(() => single.requireKeyed('feature', 'merchant_count')).not.toThrow();
    expect(() => single.requireKeyedNames(['busy_merchant'])).not.toThrow();
  });
});
