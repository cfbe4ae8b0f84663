// Subscriptions say when they may be out of date, as HTTP answers do (#16). Tally starts on a
// topic that already holds a large backlog: while it catches up (`/health` restoring) a
// graphql-ws subscriber is connected, and every payload it receives carries
// `extensions.stale: true`; once Tally is ready, the payload of the next event has no `stale`
// key, and none after it does.
import type { FormattedExecutionResult } from 'graphql';
import { Health } from '../../src/ops/health.js';
import { eventually, startTally, wsClient, type RunningTally } from '../support/app.js';
import { createTopics, produce, requireKafka, uniqueName } from '../support/kafka.js';

/** Events waiting in the topic when Tally starts: hundreds of coalesced pushes while it applies them. */
const BACKLOG = 60_000;
const BATCH = 20_000;
const T0 = Date.now() - 3_600_000;

const SUBSCRIPTION = 'subscription { featureUpdated(name: "n", entity: "hot", window: "lifetime") { value } }';

interface Received {
  result: FormattedExecutionResult<{ featureUpdated: { value: number } }, unknown>;
  /** Health.status when the payload arrived (in this process: Tally runs in-process). */
  status: string;
}

describe('subscriptions while Tally catches up with Kafka', () => {
  let brokers: string;
  let tally: RunningTally | undefined;
  const topic = uniqueName('stale-backlog');

  beforeAll(async () => {
    brokers = requireKafka();
    await createTopics(brokers, [{ topic, numPartitions: 1 }]);
    for (let i = 0; i < BACKLOG; i += BATCH) {
      await produce(
        brokers,
        topic,
        Array.from({ length: BATCH }, (_, k) => ({ key: 'hot', value: JSON.stringify({ card: 'hot', ts: T0 + i + k }) })),
      );
    }
  });

  afterAll(async () => {
    await tally?.close();
  });

  it('carry extensions.stale while Tally is not ready, and not once it is', async () => {
    tally = await startTally(`sources: [{ name: tx, topic: ${topic}, timestamp: ts, lateness: 2h }]\nfeatures: [{ name: n, source: tx, entity: card, aggregation: count, windows: [lifetime] }]\n`, {
      KAFKA_BROKERS: brokers,
      KAFKA_GROUP_ID: uniqueName('stale'),
    });
    const health = tally.app.get(Health);
    expect(health.status).not.toBe('ok'); // serving from what is restored, catching up

    const received: Received[] = [];
    const client = wsClient(tally.url);
    const dispose = client.subscribe<{ featureUpdated: { value: number } }>(
      { query: SUBSCRIPTION },
      { next: (result) => received.push({ result, status: health.status }), error: (err) => received.push({ result: { errors: [err as never] }, status: health.status }), complete: () => {} },
    );
    try {
      await eventually('Tally to catch up', () => health.status === 'ok', 120_000);
      const whileCatchingUp = received.filter((r) => r.status !== 'ok');
      expect(whileCatchingUp.length).toBeGreaterThan(0);
      for (const r of whileCatchingUp) {
        expect(r.result.errors).toBeUndefined();
        expect(r.result.extensions).toEqual({ stale: true });
        expect(r.result.data!.featureUpdated.value).toBeLessThanOrEqual(BACKLOG);
      }

      // Ready: the next event's payload is not stale, nor is any after it.
      const seen = received.length;
      await produce(brokers, topic, [{ key: 'hot', value: JSON.stringify({ card: 'hot', ts: T0 + BACKLOG }) }]);
      await eventually('the payload of the event after catching up', () => received.at(-1)?.result.data?.featureUpdated.value === BACKLOG + 1);
      const after = received.slice(seen);
      const last = after.at(-1)!.result;
      expect(last).toEqual({ data: { featureUpdated: { value: BACKLOG + 1 } } });
      expect('extensions' in last).toBe(false);
      // once one payload is not stale, none after it is
      const firstFresh = received.findIndex((r) => r.result.extensions === undefined);
      expect(received.slice(firstFresh).every((r) => r.result.extensions === undefined)).toBe(true);
    } finally {
      dispose();
      await client.dispose();
    }
  });
});
