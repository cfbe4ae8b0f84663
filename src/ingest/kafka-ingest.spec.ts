import type { EachBatchPayload } from 'kafkajs';
import { ChangeFeed, type Change } from '../changes/change-feed.js';
import { createLogger } from '../ops/logger.js';
import { Metrics } from '../ops/metrics.js';
import { parsePipeline } from '../pipeline/load.js';
import { EventProcessor } from './event-processor.js';
import { IngestGate } from './ingest-gate.js';
import { KAFKA_SLICE, KafkaIngest } from './kafka-ingest.js';
import { Router } from './router.js';
import { storesFor } from '../../test/support/stores.js';

const pipeline = parsePipeline(`
sources: [{ name: tx, timestamp: ts, lateness: 1h }]
features:
  - { name: n, source: tx, entity: card, aggregation: count, windows: [1h] }
  - { name: v, source: tx, entity: card, aggregation: last, field: amount, windows: [1h] }
`);
const T = Date.UTC(2026, 10, 25, 12);

function setup() {
  const stores = storesFor(pipeline);
  const store = stores.features;
  const router = new Router(pipeline);
  const metrics = new Metrics();
  const processor = new EventProcessor(router, stores, new ChangeFeed<Change>(), metrics, createLogger('silent'), () => T);
  const gate = new IngestGate();
  const sut = new KafkaIngest({ brokers: ['127.0.0.1:1'], groupId: 'g' }, router, processor, metrics, createLogger('silent'), gate);
  const dlq: unknown[] = [];
  // the DLQ producer, without a broker
  (sut as unknown as { producer: unknown }).producer = { send: async (r: { messages: unknown[] }) => void dlq.push(...r.messages) };
  return { sut, store, gate, dlq, topic: router.kafkaTopics()[0]! };
}

function payload(topic: string, values: (string | null)[], first = 0) {
  const resolved: string[] = [];
  const messages = values.map((v, i) => ({ offset: String(first + i), value: v === null ? null : Buffer.from(v), key: null, timestamp: String(T), headers: {} }));
  const p = {
    batch: { topic, partition: 0, messages, firstOffset: () => messages[0]?.offset ?? null, offsetLag: () => '0', fetchedOffset: String(first) },
    resolveOffset: (o: string) => void resolved.push(o),
    heartbeat: async () => undefined,
    isRunning: () => true,
    isStale: () => false,
  } as unknown as EachBatchPayload;
  return { p, resolved };
}

const eachBatch = (sut: KafkaIngest, p: EachBatchPayload) => (sut as unknown as { eachBatch(p: EachBatchPayload): Promise<void> }).eachBatch(p);

describe(KafkaIngest.name, () => {
  it('applies a large batch in order in slices, yielding the event loop between them, and resolves its last offset once', async () => {
    const { sut, store, gate, dlq, topic } = setup();
    const n = KAFKA_SLICE * 4 + 3;
    const values = Array.from({ length: n }, (_, i) => JSON.stringify({ card: 'a', amount: i, ts: T }));
    values[5] = '{"card": "a", "ts": 1'; // not JSON: to the DLQ
    const { p, resolved } = payload(topic, values, 100);
    let turns = 0;
    let counting = true;
    let pausedWhileInside = false;
    const count = () => {
      if (!counting) return;
      turns++;
      if (gate.inFlight > 0) pausedWhileInside = true;
      setImmediate(count);
    };
    setImmediate(count);
    await eachBatch(sut, p);
    counting = false;
    expect(turns).toBeGreaterThanOrEqual(3);
    expect(pausedWhileInside).toBe(true); // the gate is held across the yields
    expect(gate.inFlight).toBe(0);
    expect(store.read('n', 'a', '1h', T).value).toBe(n - 1);
    expect(store.read('v', 'a', '1h', T).value).toBe(n - 1); // the last message applied last
    expect(resolved).toEqual([String(100 + n - 1)]);
    expect(sut.appliedOffsets()).toEqual([{ topic, partition: 0, offset: BigInt(100 + n - 1) }]);
    expect(dlq).toHaveLength(1);
  });

  it('stops between messages when the consumer stops running, resolving only what it applied', async () => {
    const { sut, store, topic } = setup();
    const n = KAFKA_SLICE * 3;
    const { p, resolved } = payload(topic, Array.from({ length: n }, (_, i) => JSON.stringify({ card: 'a', amount: i, ts: T })));
    let running = true;
    (p as unknown as { isRunning: () => boolean }).isRunning = () => running;
    setImmediate(() => (running = false)); // stops at the first yield
    await eachBatch(sut, p);
    expect(store.read('n', 'a', '1h', T).value).toBe(KAFKA_SLICE);
    expect(resolved).toEqual([String(KAFKA_SLICE - 1)]);
  });

  it('skips the messages of a batch the state already holds, then applies the rest, across slices', async () => {
    const { sut, store, topic } = setup();
    (sut as unknown as { expected: Map<string, bigint> }).expected.set(`${topic}\u0000${0}`, 105n);
    const n = KAFKA_SLICE * 2 + 10;
    const { p, resolved } = payload(topic, Array.from({ length: n }, (_, i) => JSON.stringify({ card: 'a', amount: 100 + i, ts: T })), 100);
    await eachBatch(sut, p);
    expect(store.read('n', 'a', '1h', T).value).toBe(n - 5);
    expect(store.read('v', 'a', '1h', T).value).toBe(100 + n - 1);
    expect(resolved).toEqual([String(100 + n - 1)]);
    expect(sut.appliedOffsets()).toEqual([{ topic, partition: 0, offset: BigInt(100 + n - 1) }]);
    // the same batch again (a re-fetch): nothing applied twice
    const again = payload(topic, Array.from({ length: n }, (_, i) => JSON.stringify({ card: 'a', amount: 100 + i, ts: T })), 100);
    await eachBatch(sut, again.p);
    expect(store.read('n', 'a', '1h', T).value).toBe(n - 5);
    expect(again.resolved).toEqual([]);
  });
});
