// Members of a cluster start together and race to create the topics: the one that loses sees
// them unknown, or leaderless, for a moment. metadataOf waits for them instead of failing the
// start-up (which it did: "This server does not host this topic-partition").
import { Kafka, logLevel } from 'kafkajs';
import { createTopicsIfMissing, metadataOf } from '../../src/ingest/kafka-ingest.js';
import { createTopics, requireKafka, uniqueName } from '../support/kafka.js';

describe('topic metadata while another member creates the topics', () => {
  const brokers = requireKafka();
  const kafka = new Kafka({ clientId: 'topics-e2e', brokers: brokers.split(','), logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  beforeAll(() => admin.connect());
  afterAll(() => admin.disconnect());

  it('waits for a topic created a moment later, with a leader for each of its partitions', async () => {
    const topic = uniqueName('late-topic');
    // Without waiting, the broker answers that it does not know the topic.
    await expect(admin.fetchTopicMetadata({ topics: [topic] })).rejects.toThrow(/does not host this topic-partition/);
    const creating = new Promise<void>((resolve, reject) => setTimeout(() => createTopics(brokers, [{ topic, numPartitions: 6 }]).then(resolve, reject), 700));
    const found = await metadataOf(admin, [topic]);
    await creating;
    expect(found.map((t) => t.name)).toEqual([topic]);
    expect(found[0].partitions.map((p) => p.partitionId).sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(found[0].partitions.every((p) => p.leader >= 0)).toBe(true);
  });

  it('lets members starting together create the same topics: each goes on once every partition has a leader', async () => {
    const topic = uniqueName('raced-topic');
    const admins = [0, 1, 2].map(() => kafka.admin());
    await Promise.all(admins.map((a) => a.connect()));
    try {
      const created = await Promise.all(admins.map((a) => createTopicsIfMissing(a, [{ topic, numPartitions: 8 }])));
      // One of them created it; the others found it created, and none failed.
      expect(created.filter(Boolean)).toHaveLength(1);
      for (const a of admins) {
        const [found] = await a.fetchTopicMetadata({ topics: [topic] }).then((m) => m.topics);
        expect(found.partitions).toHaveLength(8);
        expect(found.partitions.every((p) => p.leader >= 0)).toBe(true);
      }
    } finally {
      await Promise.all(admins.map((a) => a.disconnect()));
    }
  });

  it('fails naming the topics when they do not appear in time', async () => {
    const missing = uniqueName('never-created');
    const started = Date.now();
    await expect(metadataOf(admin, [missing], 1_000)).rejects.toThrow(new RegExp(`topics ${missing} not available within 1 s`));
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_000);
  });
});
