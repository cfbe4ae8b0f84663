// Stores whose entity is not their source's message key (repartitioned in a cluster) are named
// with the reason: another field, a composite entity, a source without one key, fence events.
import { parsePipeline } from '../pipeline/load.js';
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
  - { name: entries, source: zones.fences, entity: fence, aggregation: count, windows: [1h] }
views:
  - { name: card, source: tx, entity: card_id, fields: { amount: float } }
leaderboards:
  - { name: teams, source: plays, member: team, score: points, mode: incr, period: all }
geo:
  - { name: zones, source: tx, member: card_id, lat: lat, lon: lon, fences: [{ name: z, circle: { lat: 1, lon: 1, radiusMeters: 10 } }] }
on_demand:
  - { name: busy_merchant, inputs: { n: "merchant_count:1h" }, expression: n > 10.0 }
  - { name: busy_card, inputs: { n: "card_count:1h" }, expression: n > 10.0 }
`);

describe('stores keyed by their message key', () => {
  it('names every store whose entity is not its source message key, with the reason', () => {
    const out = unkeyedStores(pipeline);
    expect([...out.keys()].sort()).toEqual(['feature:entries', 'feature:merchant_count', 'feature:pair_count', 'feature:play_count', 'leaderboard:teams']);
    // Fence events happen where the geo member (card) is owned, not where their fence is.
    expect(out.get('feature:entries')).toBe('its source "zones.fences" is derived from the members of geo index "zones", not keyed by its entity');
    expect(out.get('feature:merchant_count')).toBe('its entity "merchant_id" is not the message key "card_id" of source "tx"');
    expect(out.get('feature:pair_count')).toContain('composite');
    // plays declares no key and its indexes key by different fields: no store of it is routable.
    expect(out.get('leaderboard:teams')).toContain('has no single message key');
  });

});
