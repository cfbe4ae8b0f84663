// The test broker itself: topics with partitions, keyed produce, and a consumer group that
// reads everything back (the path every Kafka suite relies on).
import { consumeAll, createTopics, produce, requireKafka, uniqueName } from '../support/kafka.js';

describe('test Kafka broker', () => {
  it('creates a 3-partition topic, takes 10 messages and hands them all to a consumer group', async () => {
    const brokers = requireKafka();
    const topic = uniqueName('broker-check');
    await createTopics(brokers, [{ topic, numPartitions: 3 }]);

    const sent = Array.from({ length: 10 }, (_, i) => ({
      key: `k${i}`,
      value: JSON.stringify({ i }),
      partition: i % 3,
      headers: { 'x-seq': String(i) },
    }));
    const acks = await produce(brokers, topic, sent);
    expect(acks.every((a) => a.errorCode === 0)).toBe(true);

    const got = await consumeAll(brokers, topic, { expected: 10, timeoutMs: 60_000 });
    expect(got).toHaveLength(10);
    expect(new Set(got.map((m) => m.partition))).toEqual(new Set([0, 1, 2]));
    for (const m of got) {
      const i = (JSON.parse(m.value!) as { i: number }).i;
      expect(m.key).toBe(`k${i}`);
      expect(m.partition).toBe(i % 3);
      expect(m.headers['x-seq']).toBe(String(i));
    }
    // per partition, offsets follow the order of sending
    for (const p of [0, 1, 2]) {
      const inP = got.filter((m) => m.partition === p);
      expect(inP.map((m) => Number(m.offset))).toEqual(inP.map((_, j) => j));
      expect(inP.map((m) => m.key)).toEqual(sent.filter((s) => s.partition === p).map((s) => s.key));
    }
  });
});
