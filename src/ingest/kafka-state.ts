/**
 * The state topic of a cluster (`<group>.tally-state`, one partition per partition number):
 * where a member stopping gracefully leaves the state of each partition it owned
 * (src/cluster/partition-state.ts) for the next owner, which then reads on from the offsets
 * recorded with it instead of replaying the partition from the earliest offset. A state is
 * written as chunks followed by a manifest (JSON: the chunk count, the offset of the first
 * chunk, the bytes); a reader takes the newest manifest of the partition and the chunks it
 * names, so a state whose writer died half way (no manifest after its chunks) is never read.
 * Any manifest pairs a state with its offsets, so an older one only means more to read.
 */
import { Kafka, type Consumer, type Producer } from 'kafkajs';

/** Largest chunk of a state in one message (below the broker's default message size). */
const CHUNK_BYTES = 512 * 1024;

/** Longest a read of the state topic may take before the partitions replay instead. */
const READ_TIMEOUT_MS = 20_000;

export const STATE_HEADERS = { id: 'tally-state', manifest: 'tally-state-manifest' } as const;

export function stateTopicOf(groupId: string): string {
  return `${groupId}.tally-state`;
}

interface Manifest {
  id: string;
  chunks: number;
  firstOffset: string;
  bytes: number;
}

/** Writes one partition's state to its partition of the state topic: chunks, then the manifest. */
export async function writeState(producer: Producer, topic: string, partition: number, id: string, state: Buffer): Promise<void> {
  let firstOffset: string | undefined;
  let chunks = 0;
  for (let at = 0; at < state.length || chunks === 0; at += CHUNK_BYTES) {
    const [meta] = await producer.send({ topic, acks: -1, messages: [{ partition, key: String(partition), value: state.subarray(at, at + CHUNK_BYTES), headers: { [STATE_HEADERS.id]: id } }] });
    firstOffset ??= meta?.baseOffset;
    chunks++;
  }
  if (firstOffset === undefined) throw new Error(`the broker did not say where ${topic}[${partition}] stored the state`);
  const manifest: Manifest = { id, chunks, firstOffset, bytes: state.length };
  await producer.send({ topic, acks: -1, messages: [{ partition, key: String(partition), value: JSON.stringify(manifest), headers: { [STATE_HEADERS.id]: id, [STATE_HEADERS.manifest]: '1' } }] });
}

/**
 * Reads the newest complete state of each of `partitions` from the state topic (under a
 * consumer group of its own, reading only those partitions); a partition without one is
 * absent from the answer. Gives up after READ_TIMEOUT_MS with what it has.
 */
export async function readStates(kafka: Kafka, topic: string, partitions: readonly number[], clientTag: string): Promise<Map<number, Buffer>> {
  const out = new Map<number, Buffer>();
  const admin = kafka.admin();
  await admin.connect();
  let ends: Map<number, { low: bigint; high: bigint }>;
  try {
    ends = new Map((await admin.fetchTopicOffsets(topic)).map((o) => [o.partition, { low: BigInt(o.low), high: BigInt(o.high) }]));
  } finally {
    await admin.disconnect();
  }
  const wanted = partitions.filter((p) => (ends.get(p)?.high ?? 0n) > (ends.get(p)?.low ?? 0n));
  if (wanted.length === 0) return out;
  // Per partition: reading the manifest (the last message), then its chunks.
  const reading = new Map<number, { manifest?: Manifest; parts: Buffer[] }>(wanted.map((p) => [p, { parts: [] }]));
  const consumer: Consumer = kafka.consumer({ groupId: `tally-state-read-${clientTag}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`, allowAutoTopicCreation: false });
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await new Promise<void>((done, fail) => {
      const timer = setTimeout(done, READ_TIMEOUT_MS);
      const finish = () => {
        if (reading.size > 0) return;
        clearTimeout(timer);
        done();
      };
      consumer.on(consumer.events.GROUP_JOIN, (e) => {
        const mine = e.payload.memberAssignment[topic] ?? [];
        const others = mine.filter((p) => !reading.has(p));
        if (others.length > 0) consumer.pause([{ topic, partitions: others }]);
        for (const p of reading.keys()) consumer.seek({ topic, partition: p, offset: (ends.get(p)!.high - 1n).toString() });
      });
      consumer
        .run({
          autoCommit: false,
          eachBatch: async ({ batch }) => {
            const r = reading.get(batch.partition);
            if (r === undefined) return;
            for (const m of batch.messages) {
              if (r.manifest === undefined) {
                // The last message: a manifest, or the torn end of a write (no state to read).
                if (m.headers?.[STATE_HEADERS.manifest] === undefined) {
                  reading.delete(batch.partition);
                  return finish();
                }
                r.manifest = JSON.parse(String(m.value)) as Manifest;
                consumer.seek({ topic, partition: batch.partition, offset: r.manifest.firstOffset });
                return;
              }
              if (String(m.headers?.[STATE_HEADERS.id] ?? '') !== r.manifest.id) continue;
              if (m.headers?.[STATE_HEADERS.manifest] !== undefined) continue;
              r.parts.push(m.value ?? Buffer.alloc(0));
              if (r.parts.length === r.manifest.chunks) {
                const state = Buffer.concat(r.parts);
                if (state.length === r.manifest.bytes) out.set(batch.partition, state);
                reading.delete(batch.partition);
                return finish();
              }
            }
          },
        })
        .catch(fail);
    });
  } finally {
    await consumer.disconnect();
  }
  return out;
}
