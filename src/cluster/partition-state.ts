/*
 * One partition's state as bytes, for a handover without replay: the entities, leaderboard
 * members and geo members whose key falls in the partition, with the offsets of the last
 * message applied from each source topic's partition and the partition's watermarks, in the
 * snapshot format (src/durability: header, META, store sections, footer, checksums). The
 * member handing a partition over writes it; the next owner loads it into its stores and reads
 * on from the offsets after it. Plain TypeScript; the Kafka side is src/ingest/kafka-ingest.ts.
 */
import { parseSnapshot, SECTION, SnapshotEncoder } from '../durability/snapshot-format.js';
import { restoreStores, writeStores } from '../durability/store-codec.js';
import type { DedupEntry } from '../ingest/repartition.js';
import type { Pipeline } from '../pipeline/pipeline.js';
import { buildStores, type StoreSet } from '../store-set.js';

export interface PartitionStateMeta {
  partition: number;
  /** Offset of the last message applied, per source topic of the partition (decimal strings). */
  offsets: { topic: string; offset: string }[];
  /** The partition's event-time watermarks, per source. */
  watermarks: { source: string; ts: number }[];
  /** Of the repartition topic's partition: the newest update applied per origin (absent when none; repartition.ts). */
  dedup?: DedupEntry[];
  /** The pipeline's hash: a state is only loaded by a member running the same pipeline. */
  pipeline: string;
  /** Who wrote it, and when (epoch ms). */
  instanceId: string;
  createdAt: number;
}

/** Encodes the state of the keys `keep` selects (one partition's) with its meta. */
export async function encodePartition(stores: StoreSet, keep: (key: string) => boolean, meta: PartitionStateMeta): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const enc = new SnapshotEncoder(async (c) => void chunks.push(c));
  await enc.header(meta.createdAt);
  await enc.json(SECTION.meta, meta);
  await writeStores(enc, stores, keep);
  await enc.footer();
  return Buffer.concat(chunks);
}

/** Decodes a partition state into fresh stores of `pipeline`; throws naming the problem when it is damaged. */
export async function decodePartition(buf: Buffer, pipeline: Pipeline): Promise<{ meta: PartitionStateMeta; stores: StoreSet }> {
  const parsed = parseSnapshot(buf);
  if (parsed.problems.length > 0) throw new Error(`partition state unreadable: ${parsed.problems.join('; ')}`);
  const metaSection = parsed.sections.find((s) => s.tag === SECTION.meta);
  if (metaSection === undefined) throw new Error('partition state without META');
  const meta = JSON.parse(Buffer.concat(metaSection.frames).toString('utf8')) as PartitionStateMeta;
  const stores = buildStores(pipeline);
  await restoreStores(
    parsed.sections.filter((s) => s.tag !== SECTION.meta),
    stores,
  );
  return { meta, stores };
}
