// Live values that move with time, over graphql-ws with the official client: featureUpdated sees
// a window drain with no new event, featureThreshold(below:) fires when a heartbeat count drains.
import { collect, eventually, gqlData, startTally, wsClient, type RunningTally } from '../support/app.js';

const PIPELINE = `
sources:
  - { name: beats, timestamp: ts, lateness: 30s }
features:
  - { name: beat_count, source: beats, entity: host, aggregation: count, windows: [2s, 1h] }
  - { name: beat_load, source: beats, entity: host, aggregation: sum, field: load, windows: [2s] }
`;

interface Value {
  value: number | null;
  asOf: string;
}

describe('live values as windows drain', () => {
  let tally: RunningTally;
  const beat = (events: unknown[]) => gqlData(tally.url, 'mutation($e: [JSON!]!) { ingest(source: "beats", events: $e) { accepted } }', { e: events });

  beforeAll(async () => {
    tally = await startTally(PIPELINE);
  });
  afterAll(() => tally?.close());

  it('featureUpdated pushes the value falling to 0 (count) and null (sum) with no new event', async () => {
    const client = wsClient(tally.url);
    try {
      const count = collect<{ featureUpdated: Value }>(client, 'subscription { featureUpdated(name: "beat_count", entity: "h1", window: "2s") { value asOf } }');
      const load = collect<{ featureUpdated: Value }>(client, 'subscription { featureUpdated(name: "beat_load", entity: "h1", window: "2s") { value asOf } }');
      await eventually('the subscriptions to be acknowledged', () => count.acknowledged && load.acknowledged, 10_000);
      await new Promise((r) => setTimeout(r, 200));
      const ts = Date.now();
      await beat([
        { host: 'h1', load: 2, ts },
        { host: 'h1', load: 3, ts },
      ]);
      await eventually('the count to reach 2', () => count.items.some((i) => i.featureUpdated.value === 2), 10_000);
      await eventually('the sum to reach 5', () => load.items.some((i) => i.featureUpdated.value === 5), 10_000);
      const sent = Date.now();
      // 2 s later (100 ms tiles) both events have left the window: pushed without any event.
      await eventually('the count to drain to 0', () => count.items.at(-1)?.featureUpdated.value === 0, 10_000);
      await eventually('the sum to drain to null', () => load.items.length > 1 && load.items.at(-1)?.featureUpdated.value === null, 10_000);
      const drainedAt = Date.parse(count.items.at(-1)!.featureUpdated.asOf);
      expect(drainedAt).toBeGreaterThanOrEqual(ts + 2_000);
      expect(drainedAt - sent).toBeLessThan(4_000);
      // Nothing more once drained.
      const n = count.items.length;
      await new Promise((r) => setTimeout(r, 500));
      expect(count.items).toHaveLength(n);
      expect(count.errors).toEqual([]);
      expect(load.errors).toEqual([]);
      count.dispose();
      load.dispose();
    } finally {
      await client.dispose();
    }
  });

  it('featureThreshold(below:) fires once when a heartbeat count drains, and says which side was crossed', async () => {
    const client = wsClient(tally.url);
    try {
      const alerts = collect<{ featureThreshold: { entity: string; value: number; direction: string; threshold: number; at: string } }>(
        client,
        'subscription { featureThreshold(name: "beat_count", window: "2s", below: 1) { entity value direction threshold at } }',
      );
      await eventually('the subscription to be acknowledged', () => alerts.acknowledged, 10_000);
      await new Promise((r) => setTimeout(r, 200));
      const ts = Date.now();
      await beat([{ host: 'quiet', load: 1, ts }]);
      // `busy` beats on and never drops under 1.
      const busy = setInterval(() => void beat([{ host: 'busy', load: 1, ts: Date.now() }]), 300);
      try {
        const crossing = await alerts.next(1, 10_000);
        expect(crossing.featureThreshold).toMatchObject({ entity: 'quiet', value: 0, direction: 'below', threshold: 1 });
        expect(Date.parse(crossing.featureThreshold.at)).toBeGreaterThanOrEqual(ts + 2_000);
        await new Promise((r) => setTimeout(r, 1_000));
      } finally {
        clearInterval(busy);
      }
      expect(alerts.items).toHaveLength(1);
      expect(alerts.errors).toEqual([]);
      alerts.dispose();
    } finally {
      await client.dispose();
    }
  });

  it('refuses featureThreshold with neither or both of above and below as bad input', async () => {
    const client = wsClient(tally.url);
    try {
      for (const args of ['', 'above: 1, below: 2']) {
        const sub = collect(client, `subscription { featureThreshold(name: "beat_count", window: "2s"${args ? `, ${args}` : ''}) { entity } }`);
        await eventually('the refusal', () => sub.errors.length > 0, 10_000);
        expect(JSON.stringify(sub.errors)).toContain('exactly one of `above` and `below`');
        expect(JSON.stringify(sub.errors)).toContain('BAD_USER_INPUT');
        sub.dispose();
      }
    } finally {
      await client.dispose();
    }
  });
});
