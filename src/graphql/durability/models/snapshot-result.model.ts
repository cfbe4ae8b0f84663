import { Field, Float, Int, ObjectType } from '@nestjs/graphql';
import type { SnapshotInfo } from '../../../durability/snapshotter.js';

@ObjectType('SourceOffset', { description: 'The offset of the last message a snapshot reflects, for one partition.' })
export class SourceOffsetModel {
  @Field() topic!: string;
  @Field(() => Int) partition!: number;
  @Field({ description: 'Decimal (Kafka offsets are 64-bit).' }) offset!: string;
}

@ObjectType('SnapshotSection', { description: 'Records (entities, members) one store section of a snapshot holds.' })
export class SnapshotSectionModel {
  @Field({ description: 'Section tag and store name, e.g. "FEAT card_txn_count".' }) section!: string;
  @Field(() => Float) records!: number;
}

@ObjectType({ description: 'A snapshot written to TALLY_DATA_DIR/snapshots.' })
export class SnapshotResult {
  @Field(() => Int) generation!: number;
  @Field() path!: string;
  @Field(() => Float) bytes!: number;
  @Field({ description: 'interval, shutdown or admin.' }) reason!: string;
  @Field({ description: 'When the stores were captured.' }) createdAt!: Date;
  @Field(() => Float, { description: 'From request to file in place, ms.' }) durationMs!: number;
  @Field(() => Float, { description: 'How long ingest was held while the stores were written, ms.' }) ingestPausedMs!: number;
  @Field(() => Float, { description: 'Last ingest-log record the snapshot reflects (0: none).' }) logPosition!: number;
  @Field(() => [SourceOffsetModel]) offsets!: SourceOffsetModel[];
  @Field(() => [SnapshotSectionModel]) sections!: SnapshotSectionModel[];
}

export function toSnapshotResultModel(info: SnapshotInfo): SnapshotResult {
  return {
    generation: info.generation,
    path: info.path,
    bytes: info.bytes,
    reason: info.reason,
    createdAt: new Date(info.createdAt),
    durationMs: info.durationMs,
    ingestPausedMs: info.ingestPausedMs,
    logPosition: info.logSeq,
    offsets: info.offsets,
    sections: Object.entries(info.counts).map(([section, records]) => ({ section, records })),
  };
}
