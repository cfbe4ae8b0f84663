import { parsePipeline } from '../pipeline/load.js';
import { MAX_FUTURE_MS, MAX_KEY_LENGTH, Router, type RouteResult } from './router.js';

const pipeline = parsePipeline(`
sources:
  - { name: transactions, timestamp: ts, lateness: 30s }
  - { name: clicks, topic: web-clicks }
  - { name: positions }
features:
  - { name: txn_count, source: transactions, entity: card.id, aggregation: count, windows: [1m] }
  - { name: txn_sum, source: transactions, entity: card.id, aggregation: sum, field: amount, windows: [1h] }
  - { name: merchants, source: transactions, entity: card.id, aggregation: distinct, field: merchant, windows: [1h] }
  - { name: merchant_count, source: transactions, entity: merchant, aggregation: count, windows: [5m] }
  - { name: clicks_per_user, source: clicks, entity: user, aggregation: count, windows: [1m] }
views:
  - { name: card_profile, source: transactions, entity: card.id, fields: { limit: float, tier: int, blocked: boolean, emb: "float[]" } }
leaderboards:
  - { name: spenders, source: transactions, member: card.id, score: amount }
geo:
  - { name: drivers, source: positions, member: driver, lat: lat, lon: lon }
`);

const NOW = Date.UTC(2026, 10, 25, 12);
const router = new Router(pipeline);
const route = (source: string, event: unknown, now = NOW): RouteResult => router.route(source, event, now);
const refusal = (r: RouteResult) => (r.ok ? undefined : `${r.reason}: ${r.message}`);

describe(Router.name, () => {
  it('turns one event into the updates of every store its source feeds, in pipeline order', () => {
    const r = route('transactions', { card: { id: 'c1' }, amount: 12.5, merchant: 'm9', ts: NOW - 1000, limit: 500, tier: 2 });
    expect(r).toEqual({
      ok: true,
      source: 'transactions',
      ts: NOW - 1000,
      updates: [
        { store: 'feature', name: 'txn_count', entity: 'c1', value: 1 },
        { store: 'feature', name: 'txn_sum', entity: 'c1', value: 12.5 },
        { store: 'feature', name: 'merchants', entity: 'c1', value: 'm9' },
        { store: 'feature', name: 'merchant_count', entity: 'm9', value: 1 },
        { store: 'view', name: 'card_profile', entity: 'c1', fields: { limit: 500, tier: 2 } },
        { store: 'leaderboard', name: 'spenders', member: 'c1', score: 12.5 },
      ],
    });
  });

  it('accepts ISO-8601 timestamps and numeric keys', () => {
    const r = route('transactions', { card: { id: 42 }, amount: 1, merchant: 7, ts: '2026-11-25T11:59:00Z' });
    expect(r.ok && r.ts).toBe(Date.UTC(2026, 10, 25, 11, 59));
    expect(r.ok && r.updates[0]).toEqual({ store: 'feature', name: 'txn_count', entity: '42', value: 1 });
  });

  it('reads a timestamp without a zone as UTC, whatever the time zone of the server', () => {
    const at = (ts: unknown) => {
      const r = route('transactions', { card: { id: 'c' }, amount: 1, merchant: 'm', ts });
      return r.ok ? r.ts : refusal(r);
    };
    expect(at('2026-11-25T11:59:00')).toBe(Date.UTC(2026, 10, 25, 11, 59));
    expect(at('2026-11-25 11:59')).toBe(Date.UTC(2026, 10, 25, 11, 59));
    expect(at('2026-11-25T11:59:00.250+01:00')).toBe(Date.UTC(2026, 10, 25, 10, 59, 0, 250));
    expect(at('2026-11-25')).toBe(Date.UTC(2026, 10, 25));
    expect(Object.is(at(-0), 0)).toBe(true);
  });

  it('accepts an event of a derived source from Tally itself, not from outside', () => {
    const fence = { fence: 'f', member: 'd', kind: 'enter', lat: 1, lon: 2, ts: NOW };
    expect(route('drivers.fences', fence).ok).toBe(false);
    expect(router.routeDerived('drivers.fences', fence, NOW).ok).toBe(true);
    expect(refusal(router.decode('drivers.fences', Buffer.from(JSON.stringify(fence)), NOW))).toMatch(/^source-internal/);
  });

  it('refuses a large message nested too deep before parsing it', () => {
    const deep = '{"user":"u","x":' + '['.repeat(100_000) + ']'.repeat(100_000) + '}';
    expect(refusal(router.decode('clicks', Buffer.from(deep), NOW))).toMatch(/^too-deep/);
    const shallow = JSON.stringify({ user: 'u', pad: 'x'.repeat(10_000), n: [[[1]]] });
    expect(router.decode('clicks', Buffer.from(shallow), NOW).ok).toBe(true);
  });

  it('uses the fallback time for sources without a timestamp field', () => {
    const r = router.route('clicks', { user: 'u1' }, NOW, NOW - 5000);
    expect(r.ok && r.ts).toBe(NOW - 5000);
  });

  it('maps topics to sources', () => {
    expect(router.sourceOfTopic('web-clicks')).toBe('clicks');
    expect(router.sourceOfTopic('clicks')).toBeUndefined();
    expect(router.kafkaTopics().sort()).toEqual(['positions', 'transactions', 'web-clicks']);
  });

  it.each<[string, string, unknown, string]>([
    ['an unknown source', 'nope', { a: 1 }, 'unknown-source: unknown source "nope"'],
    ['a non-object event', 'transactions', [1, 2], 'not-an-object: an event must be a JSON object, got an array'],
    ['a missing entity', 'transactions', { amount: 1, merchant: 'm', ts: NOW }, 'missing-field: missing entity field "card.id"'],
    ['an entity of the wrong type', 'transactions', { card: { id: true }, amount: 1, merchant: 'm', ts: NOW }, 'wrong-type: entity field "card.id" must be a string or number, got true'],
    ['an empty entity', 'transactions', { card: { id: '' }, amount: 1, merchant: 'm', ts: NOW }, 'invalid-value: entity field "card.id" is empty'],
    ['an overlong entity', 'transactions', { card: { id: 'x'.repeat(MAX_KEY_LENGTH + 1) }, amount: 1, merchant: 'm', ts: NOW }, `invalid-value: entity field "card.id" is longer than ${MAX_KEY_LENGTH} characters`],
    ['a non-numeric amount', 'transactions', { card: { id: 'c' }, amount: '12', merchant: 'm', ts: NOW }, 'wrong-type: field "amount" must be a finite number, got "12"'],
    ['a missing timestamp', 'transactions', { card: { id: 'c' }, amount: 1, merchant: 'm' }, 'missing-field: missing timestamp field "ts"'],
    ['a bad timestamp', 'transactions', { card: { id: 'c' }, amount: 1, merchant: 'm', ts: 'yesterday' }, 'invalid-timestamp: timestamp field "ts" must be epoch milliseconds (0 to 8640000000000000) or ISO-8601 text (UTC unless it names a zone), got "yesterday"'],
    ['a timestamp no Date can hold', 'transactions', { card: { id: 'c' }, amount: 1, merchant: 'm', ts: 1e20 }, 'invalid-timestamp: timestamp field "ts" must be epoch milliseconds (0 to 8640000000000000) or ISO-8601 text (UTC unless it names a zone), got 100000000000000000000'],
    ['a timestamp one past the last Date', 'transactions', { card: { id: 'c' }, amount: 1, merchant: 'm', ts: 8.64e15 + 1 }, 'invalid-timestamp'],
    ['the last Date as a timestamp (far ahead)', 'transactions', { card: { id: 'c' }, amount: 1, merchant: 'm', ts: 8.64e15 }, 'future-timestamp: timestamp +275760-09-13T00:00:00.000Z is more than'],
    ['a negative timestamp', 'transactions', { card: { id: 'c' }, amount: 1, merchant: 'm', ts: -1 }, 'invalid-timestamp'],
    ['a timestamp in a local format', 'transactions', { card: { id: 'c' }, amount: 1, merchant: 'm', ts: '2026/11/25 13:00' }, 'invalid-timestamp'],
    ['an amount whose sum could overflow', 'transactions', { card: { id: 'c' }, amount: 1e308, merchant: 'm', ts: NOW }, 'invalid-value: field "amount" is 1e+308; numbers that are added up must lie within ±1e+200'],
    ['an event for a source Tally makes itself', 'drivers.fences', { fence: 'f', member: 'd', kind: 'enter', lat: 0, lon: 0, ts: NOW }, 'source-internal: source "drivers.fences" is made by Tally itself'],
    ['a timestamp far ahead', 'transactions', { card: { id: 'c' }, amount: 1, merchant: 'm', ts: NOW + MAX_FUTURE_MS + 1 }, 'future-timestamp'],
    ['a view field of the wrong type', 'transactions', { card: { id: 'c' }, amount: 1, merchant: 'm', ts: NOW, tier: 2.5 }, 'wrong-type: view "card_profile" field "tier" must be int, got 2.5'],
    ['an embedding with a string', 'transactions', { card: { id: 'c' }, amount: 1, merchant: 'm', ts: NOW, emb: [1, 'a'] }, 'wrong-type: view "card_profile" field "emb" must be float[]'],
    ['latitude 91', 'positions', { driver: 'd', lat: 91, lon: 0 }, 'invalid-value: lat 91 is out of range [-85.05112878, 85.05112878]'],
    ['longitude -181', 'positions', { driver: 'd', lat: 0, lon: -181 }, 'invalid-value: lon -181 is out of range [-180, 180]'],
  ])('refuses %s with its reason', (_what, source, event, expected) => {
    expect(refusal(route(source, event))).toContain(expected);
  });

  it('decodes raw JSON and names what is wrong with bytes that are not', () => {
    expect(router.decode('clicks', Buffer.from('{"user":"u"}'), NOW).ok).toBe(true);
    expect(refusal(router.decode('clicks', Buffer.from('{"user":'), NOW))).toMatch(/^invalid-json: not valid JSON/);
    expect(refusal(router.decode('clicks', null, NOW))).toBe('invalid-json: empty message (no value)');
    expect(refusal(router.decode('clicks', Buffer.alloc(2 << 20, 32), NOW))).toMatch(/^too-large/);
  });
});

describe('Router with where: filters', () => {
  const filtered = parsePipeline(`
sources: [{ name: pay, timestamp: ts }]
features:
  - { name: declined, source: pay, entity: card, aggregation: count, windows: [1h], where: 'status == "declined"' }
  - { name: big_abroad, source: pay, entity: card, aggregation: sum, field: amount, windows: [1h], where: 'amount > 100 && country != "US"' }
  - { name: all, source: pay, entity: card, aggregation: count, windows: [1h] }
views:
  - { name: last_decline, source: pay, entity: card, fields: { reason: string }, where: 'status == "declined"' }
leaderboards:
  - { name: big, source: pay, member: card, score: amount, where: 'amount >= 1000' }
`);
  const T = Date.UTC(2026, 10, 25, 12);

  it('feeds each store only the events its condition matches, shared or not, and skips the checks of stores not fed', () => {
    const router = new Router(filtered);
    const stores = (event: Record<string, unknown>) => {
      const a = router.route('pay', { ts: T, ...event }, T);
      const b = router.routeShared('pay', { ts: T, ...event }, T);
      expect(b).toEqual(a);
      return a.ok ? a.updates.map((u) => u.name) : a.reason;
    };
    expect(stores({ card: 'c', status: 'declined', amount: 5, country: 'FR', reason: 'cvv' })).toEqual(['declined', 'all', 'last_decline']);
    expect(stores({ card: 'c', status: 'ok', amount: 500, country: 'FR' })).toEqual(['big_abroad', 'all']);
    expect(stores({ card: 'c', status: 'ok', amount: 5000, country: 'US' })).toEqual(['all', 'big']);
    // No amount: big_abroad and big do not match (a condition that cannot be evaluated is false), so nothing needs an amount.
    expect(stores({ card: 'c', status: 'ok' })).toEqual(['all']);
    // A store that matches still checks its fields.
    expect(stores({ card: 'c', status: 'ok', amount: '5000x', country: 'FR' })).toEqual(['all']);
    expect(stores({ status: 'declined' })).toBe('missing-field');
  });
});

describe('Router with composite keys', () => {
  const composite = parsePipeline(`
sources: [{ name: imp, timestamp: ts }]
features:
  - { name: caps, source: imp, entity: [user_id, campaign.id], aggregation: count, windows: [1h] }
views:
  - { name: pair, source: imp, entity: [user_id, campaign.id], fields: { price: float } }
`);
  const T = Date.UTC(2026, 10, 25, 12);

  it('joins the key fields with "|" in declared order, and refuses a value holding "|" or a missing part', () => {
    const router = new Router(composite);
    const keys = (event: Record<string, unknown>) => {
      const r = router.route('imp', { ts: T, ...event }, T);
      return r.ok ? r.updates.map((u) => (u.store === 'feature' || u.store === 'view' ? u.entity : '')) : refusal(r);
    };
    expect(keys({ user_id: 'u-17', campaign: { id: 'c-2' }, price: 1 })).toEqual(['u-17|c-2', 'u-17|c-2']);
    expect(keys({ user_id: 17, campaign: { id: 2 } })).toEqual(['17|2', '17|2']);
    expect(keys({ user_id: 'u|17', campaign: { id: 'c-2' } })).toBe('invalid-value: entity field "user_id" holds "|", the separator of composite keys');
    expect(keys({ user_id: 'u-17' })).toBe('missing-field: missing entity field "campaign.id"');
    expect(keys({ user_id: 'u'.repeat(300), campaign: { id: 'c'.repeat(300) } })).toMatch(/^invalid-value: the composite key of fields "user_id", "campaign.id" is longer than 512/);
  });
});

describe('Router.routeShared', () => {
  const sharedPipeline = parsePipeline(`
sources: [{ name: tx, timestamp: ts }]
features:
  - { name: n, source: tx, entity: card, aggregation: count, windows: [1h] }
  - { name: d, source: tx, entity: card, aggregation: distinct, field: merchant, windows: [1h] }
leaderboards:
  - { name: top, source: tx, member: merchant, score: amount, mode: incr }
`);
  const T = Date.UTC(2026, 10, 25, 12);

  it('routes as route() does, reusing one result per source', () => {
    const router = new Router(sharedPipeline);
    const events = [
      { card: 'a', merchant: 'm1', amount: 2, ts: T },
      { card: 'b', merchant: 'm2', amount: 3, ts: T + 1 },
      { card: 'c', amount: 3, ts: T + 2 }, // refused: no merchant
      { card: 'c', merchant: 'm3', amount: 4, ts: T + 3 },
    ];
    let first: unknown;
    for (const e of events) {
      const expected = router.route('tx', e, T);
      const shared = router.routeShared('tx', e, T);
      expect(shared).toEqual(expected);
      if (shared.ok) {
        first ??= shared;
        expect(shared).toBe(first);
      }
    }
    expect(router.decodeShared('tx', Buffer.from(JSON.stringify(events[1])), T)).toEqual(router.route('tx', events[1], T));
  });
});

describe('Router with topk features', () => {
  const topk = parsePipeline(`
sources: [{ name: tx, timestamp: ts }]
features:
  - { name: merchants, source: tx, entity: card, aggregation: topk, field: merchant.id, windows: [1h] }
  - { name: spend, source: tx, entity: card, aggregation: topk, field: merchant.id, weight: amount, k: 3, windows: [1h] }
`);
  const T = Date.UTC(2026, 10, 25, 12);

  it('routes the item as a key and the weight field (1 without one), shared or not, and refuses a bad item or weight', () => {
    const router = new Router(topk);
    const updates = (event: Record<string, unknown>) => {
      const r = router.route('tx', { ts: T, card: 'c1', ...event }, T);
      const shared = router.routeShared('tx', { ts: T, card: 'c1', ...event }, T);
      expect(shared).toEqual(r);
      return r.ok ? r.updates : refusal(r);
    };
    expect(updates({ merchant: { id: 'm9' }, amount: 12.5 })).toEqual([
      { store: 'feature', name: 'merchants', entity: 'c1', value: 'm9', weight: 1 },
      { store: 'feature', name: 'spend', entity: 'c1', value: 'm9', weight: 12.5 },
    ]);
    expect(updates({ merchant: { id: 77 }, amount: 0 })).toEqual([
      { store: 'feature', name: 'merchants', entity: 'c1', value: '77', weight: 1 },
      { store: 'feature', name: 'spend', entity: 'c1', value: '77', weight: 0 },
    ]);
    expect(updates({ amount: 1 })).toBe('missing-field: missing item field "merchant.id"');
    expect(updates({ merchant: { id: '' }, amount: 1 })).toBe('invalid-value: item field "merchant.id" is empty');
    expect(updates({ merchant: { id: 'm' }, amount: -2 })).toBe('invalid-value: weight field "amount" is -2; topk weights must be 0 or more');
    expect(updates({ merchant: { id: 'm' }, amount: '2' })).toBe('wrong-type: field "amount" must be a finite number, got "2"');
    expect(updates({ merchant: { id: 'm' }, amount: 1e300 })).toMatch(/^invalid-value: field "amount" is 1e\+300; numbers that are added up/);
  });
});
describe('Router with vector fields', () => {
  const p = parsePipeline(`
sources: [{ name: cards }]
views:
  - { name: card_emb, source: cards, entity: card, fields: { emb: vector(3), raw: { type: vector(2), metric: l2 }, country: string } }
`);
  const r = new Router(p);
  const go = (event: unknown) => r.route('cards', event, NOW);

  it('takes an array of exactly N finite numbers, or null', () => {
    expect(go({ card: 'c1', emb: [0.1, -2, 3], raw: [0, 0], country: 'FR' })).toMatchObject({ ok: true, updates: [{ store: 'view', fields: { emb: [0.1, -2, 3], raw: [0, 0], country: 'FR' } }] });
    expect(go({ card: 'c1', emb: null })).toMatchObject({ ok: true, updates: [{ fields: { emb: null } }] });
  });

  it.each([
    ['a wrong length', { emb: [1, 2] }, 'wrong-type: view "card_emb" field "emb" is vector(3): an array of 3 numbers, got an array of 2'],
    ['a non-number', { emb: [1, '2', 3] }, 'wrong-type: view "card_emb" field "emb" is vector(3): element 1 is "2", not a finite number'],
    ['a non-finite number', { raw: [1, null] }, 'wrong-type: view "card_emb" field "raw" is vector(2): element 1 is null, not a finite number'],
    ['not an array', { emb: '1,2,3' }, 'wrong-type: view "card_emb" field "emb" is vector(3): an array of 3 numbers, got "1,2,3"'],
    ['a zero vector under cosine', { emb: [0, 0, 0] }, 'invalid-value: view "card_emb" field "emb" is vector(3) with metric cosine: a zero vector has no direction'],
  ])('refuses the event alone for %s, with the reason', (_what, fields, reason) => {
    expect(refusal(go({ card: 'c1', country: 'FR', ...fields }))).toBe(reason);
    // The next event is taken as usual.
    expect(go({ card: 'c2', emb: [1, 1, 1] }).ok).toBe(true);
  });
});

