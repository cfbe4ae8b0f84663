// As-of reads over GraphQL: `feature`, `featureVector` and `onlineFeatures` take `at:` and
// answer what a read at that moment gave, from the events at or before it; outside the
// history, in the future, or on a store without history, the error names the problem.
import { gql, startTally, type RunningTally } from '../support/app.js';

const MIN = 60_000;
const T0 = Date.UTC(2026, 10, 25, 12);
const PIPELINE = `
sources: [{ name: tx, timestamp: ts, lateness: 1h }]
features:
  - { name: n, source: tx, entity: card, aggregation: count, windows: [5m, 1h], history: 2h }
  - { name: plain, source: tx, entity: card, aggregation: count, windows: [5m] }
views:
  - { name: profile, source: tx, entity: card, fields: { country: string, limit: int }, history: 2h }
`;

describe('as-of reads (at:)', () => {
  let tally: RunningTally;
  let now = T0 + 90 * MIN;
  beforeAll(async () => {
    tally = await startTally(PIPELINE, {}, { clock: () => now });
    const events = [
      { card: 'c1', country: 'FR', limit: 100, ts: T0 },
      { card: 'c1', ts: T0 + 10 * MIN },
      { card: 'c1', country: 'US', ts: T0 + 30 * MIN },
      // Arrives last, older than the US update: applied live only to `limit`; as of T0 + 25m it is the newest.
      { card: 'c1', country: 'DE', limit: 500, ts: T0 + 20 * MIN },
    ];
    const res = await fetch(`${tally.url}/ingest/tx`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(events) });
    expect(await res.json()).toMatchObject({ accepted: 4, rejected: 0 });
  });
  afterAll(() => tally.close());

  it('answers feature, featureVector and onlineFeatures as of a past moment', async () => {
    const at = new Date(T0 + 25 * MIN).toISOString();
    const r = await gql<Record<string, unknown>>(
      tally.url,
      `query($at: DateTime) {
        h: feature(name: "n", entity: "c1", window: "1h", at: $at) { value asOf lastEventAt }
        m: feature(name: "n", entity: "c1", window: "5m", at: $at) { value }
        live: feature(name: "n", entity: "c1", window: "1h") { value }
        v: featureVector(view: "profile", entity: "c1", at: $at) { values fieldTimes }
        now: featureVector(view: "profile", entity: "c1") { values }
        o: onlineFeatures(entities: ["c1", "c2"], features: ["n:1h", "profile:country"], at: $at) { entity values freshness }
      }`,
      { at },
    );
    expect(r.errors).toBeUndefined();
    expect(r.data).toEqual({
      h: { value: 3, asOf: at, lastEventAt: new Date(T0 + 20 * MIN).toISOString() },
      m: { value: 1 },
      live: { value: 1 },
      v: { values: { country: 'DE', limit: 500 }, fieldTimes: { country: new Date(T0 + 20 * MIN).toISOString(), limit: new Date(T0 + 20 * MIN).toISOString() } },
      now: { values: { country: 'US', limit: 500 } },
      o: [
        { entity: 'c1', values: [3, 'DE'], freshness: [new Date(T0 + 20 * MIN).toISOString(), new Date(T0 + 20 * MIN).toISOString()] },
        { entity: 'c2', values: [0, null], freshness: [null, null] },
      ],
    });
  });

  it('refuses a moment outside the history, in the future, or on a store without history, naming it', async () => {
    const ask = async (query: string, at: number) => (await gql(tally.url, query, { at: new Date(at).toISOString() })).errors?.[0];
    const old = await ask('query($at: DateTime) { feature(name: "n", entity: "c1", window: "1h", at: $at) { value } }', now - 3 * 60 * MIN);
    expect(old).toMatchObject({ extensions: { code: 'BAD_USER_INPUT' } });
    expect(old?.message).toBe(`at: ${new Date(now - 180 * MIN).toISOString()} is older than feature "n" keeps (history: 2h); the oldest time available is ${new Date(now - 120 * MIN).toISOString()}`);
    expect((await ask('query($at: DateTime) { featureVector(view: "profile", entity: "c1", at: $at) { values } }', now + MIN))?.message).toContain('is in the future');
    expect((await ask('query($at: DateTime) { onlineFeatures(entities: ["c1"], features: ["n:1h", "plain:5m"], at: $at) { values } }', now - MIN))?.message).toBe('feature "plain" keeps no history for at: reads; declare history: (e.g. history: 1d) on it in the pipeline');
    // Time moves on: what was inside the history leaves it.
    now += 3 * 60 * MIN;
    expect((await ask('query($at: DateTime) { feature(name: "n", entity: "c1", window: "1h", at: $at) { value } }', T0 + 25 * MIN))?.message).toContain('the oldest time available is');
  });
});
