import type { EachBatchPayload } from 'kafkajs';
import { ChangeFeed, type Change } from '../changes/change-feed.js';
import { createLogger } from '../ops/logger.js';
import { Metrics } from '../ops/metrics.js';
import { parsePipeline } from '../pipeline/load.js';
import { EventProcessor } from './event-processor.js';
import { IngestGate } from './ingest-gate.js';
import { KAFKA_SLICE, KafkaIngest, MAX_DLQ_COPY_BYTES } from './kafka-ingest.js';
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
  return { sut, store, gate, dlq, metrics, topic: router.kafkaTopics()[0]! };
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

  it('applies each event once and writes each refusal to the DLQ once when a DLQ write fails and the batch comes again', async () => {
    const { sut, store, metrics, topic } = setup();
    const written: { offset: string; partition: number | undefined }[] = [];
    let failures = 1;
    (sut as unknown as { producer: unknown }).producer = {
      send: async (r: { messages: { headers: Record<string, string>; partition?: number }[] }) => {
        if (failures-- > 0) throw new Error('The broker refused the write (MESSAGE_TOO_LARGE)');
        written.push(...r.messages.map((m) => ({ offset: m.headers['tally-source-offset']!, partition: m.partition })));
      },
    };
    // Good and bad events interleaved, across slices: bad ones at 100, 101, 350 and the last.
    const n = KAFKA_SLICE * 2 + 10;
    const values = Array.from({ length: n }, (_, i) => JSON.stringify({ card: 'a', amount: i, ts: T }));
    const bad = [0, 1, 250, n - 1];
    for (const i of bad) values[i] = '{"card": "a", "ts": 1';
    const first = payload(topic, values, 100);
    await expect(eachBatch(sut, first.p)).rejects.toThrow(/to .*\.dlq failed/);
    expect(store.read('n', 'a', '1h', T).value).toBe(n - bad.length);
    expect(first.resolved).toEqual([]);
    expect(written).toEqual([]);
    expect(await metrics.dlqWriteFailures.get()).toMatchObject({ values: [{ value: 1, labels: { topic } }] });
    // No snapshot may record offsets past refusals the DLQ does not hold.
    expect(() => sut.snapshotOffsets()).toThrow(/4 refused messages .* are not in .*\.dlq yet/);
    // kafkajs fetches the batch again: the refusals are written first, nothing is applied twice.
    const again = payload(topic, values, 100);
    await eachBatch(sut, again.p);
    expect(store.read('n', 'a', '1h', T).value).toBe(n - bad.length);
    expect(written).toEqual(bad.map((i) => ({ offset: String(100 + i), partition: 0 })));
    expect(again.resolved).toEqual([String(100 + n - 1)]);
    expect(sut.snapshotOffsets()).toEqual([{ topic, partition: 0, offset: BigInt(100 + n - 1) }]);
    expect(await metrics.dlqWritten.get()).toMatchObject({ values: [{ value: bad.length, labels: { topic } }] });
    // and once more: nothing new
    await eachBatch(sut, payload(topic, values, 100).p);
    expect(written).toHaveLength(bad.length);
    expect(store.read('n', 'a', '1h', T).value).toBe(n - bad.length);
  });

  it('writes refusals to the DLQ in writes of at most MAX_DLQ_COPY_BYTES each', async () => {
    const { sut, topic } = setup();
    const sizes: number[] = [];
    (sut as unknown as { producer: unknown }).producer = { send: async (r: { messages: unknown[] }) => void sizes.push(r.messages.length) };
    // 5 refused messages of 200 KiB: two fit in one write, not three.
    const big = `{"card": "a", "ts": 1, "pad": "${'x'.repeat(200 * 1024)}"`;
    const { p } = payload(topic, [big, big, big, big, big]);
    await eachBatch(sut, p);
    expect(3 * 200 * 1024).toBeGreaterThan(MAX_DLQ_COPY_BYTES);
    expect(sizes).toEqual([2, 2, 1]);
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
    // the same batch again (a re-fetch): nothing applied twice, and the client moves past it
    const again = payload(topic, Array.from({ length: n }, (_, i) => JSON.stringify({ card: 'a', amount: 100 + i, ts: T })), 100);
    await eachBatch(sut, again.p);
    expect(store.read('n', 'a', '1h', T).value).toBe(n - 5);
    expect(again.resolved).toEqual([String(100 + n - 1)]);
  });
});
