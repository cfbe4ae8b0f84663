import { Field, Float, Int, ObjectType } from '@nestjs/graphql';

@ObjectType({ description: 'Events refused for one reason (late, missing-field, …).' })
export class ReasonCount {
  @Field() reason!: string;
  @Field(() => Float) count!: number;
}

@ObjectType({ description: 'Ingest counts of one source since start-up.' })
export class SourceStats {
  @Field() source!: string;
  @Field(() => Float) accepted!: number;
  @Field(() => Float) rejected!: number;
  @Field(() => [ReasonCount], { description: 'Refusals by reason, most frequent first.' }) rejectedByReason!: ReasonCount[];
}

@ObjectType({ description: 'Messages behind the high watermark of one Kafka partition, after its last batch.' })
export class PartitionLag {
  @Field() topic!: string;
  @Field(() => Int) partition!: number;
  @Field(() => Float) lag!: number;
}

@ObjectType({ description: 'Ingest counters and consumer lag, as in /metrics; counts are totals since start-up (take differences for rates).' })
export class Stats {
  @Field({ description: 'embedded | kafka' }) mode!: string;
  @Field({ description: 'ok | degraded | starting | restoring (as /health)' }) status!: string;
  @Field(() => Boolean, { nullable: true, description: 'Whether the Kafka consumer fetches: false when stopped or when it could not fetch for longer than TALLY_KAFKA_STALL_MS; null in embedded mode.' }) kafkaConnected!: boolean | null;
  @Field(() => Int) uptimeSeconds!: number;
  @Field(() => Float) eventsAccepted!: number;
  @Field(() => Float) eventsRejected!: number;
  @Field(() => [SourceStats]) sources!: SourceStats[];
  @Field(() => Float, { nullable: true, description: 'Sum over partitions; null in embedded mode.' }) consumerLag!: number | null;
  @Field(() => [PartitionLag]) partitions!: PartitionLag[];
  @Field() asOf!: Date;
}
