// Public face of durability: the snapshot file format and its reader (also used by the
// `snapshot inspect` CLI), snapshot generations on disk, the embedded ingest log and the
// snapshot / recovery orchestration.
export { FORMAT_VERSION, MAGIC, SECTION, SnapshotEncoder, parseSnapshot, type ParseResult, type ParsedSection, type SnapshotHeader } from './snapshot-format.js';
export {
  SnapshotCorruptError,
  SnapshotDirectory,
  inspectSnapshot,
  readSnapshot,
  type Snapshot,
  type SnapshotFileInfo,
  type SnapshotInspection,
  type SnapshotMeta,
  type SourceOffset,
  type WatermarkState,
} from './snapshot-files.js';
export { ByteReader, ByteWriter } from './binary.js';
export { writeStores, restoreStores, type StoreSet, type RestoreReport, type SectionCounts } from './store-codec.js';
export { IngestLog, IngestLogCorruptError, type FsyncPolicy, type LogRecord } from './ingest-log.js';
export { digestStores, type StateDigest, type StoreDigest } from './digest.js';
export { Snapshotter, type SnapshotInfo } from './snapshotter.js';
export { Recovery, pipelineHashOf } from './recovery.js';
