import { Inject } from '@nestjs/common';
import { Field, Float, Int, ObjectType, Query, Resolver } from '@nestjs/graphql';
import { ClusterState } from '../../cluster/cluster-state.js';
import { clusterReport } from '../../cluster/cluster-report.js';

@ObjectType({ description: 'One member of the cluster and the partition numbers (across every source topic) it holds.' })
export class ClusterMemberInfo {
  @Field({ description: 'TALLY_INSTANCE_ID of the member.' }) instanceId!: string;
  @Field({ description: 'TALLY_ADVERTISED_URL of the member (empty for a single instance that advertises none).' }) url!: string;
  @Field({ description: 'True for the instance that answered.' }) self!: boolean;
  @Field(() => [Int], { description: 'Partitions assigned to this member: it applies their events and answers for them (once restored).' }) active!: number[];
  @Field(() => [Int], { description: 'Partitions whose warm copy this member keeps (TALLY_STANDBY_REPLICAS=1): it takes them over without replay when their owner goes.' }) standby!: number[];
  @Field(() => [Int], { description: 'Of the active partitions, those this member is still rebuilding from Kafka; their keys are refused (PARTITIONS_UNAVAILABLE) until done. Known for the answering instance only (empty for its peers).' }) restoring!: number[];
}

@ObjectType({ description: 'Messages not yet applied for one partition number (summed over source topics), after its last batch.' })
export class ClusterPartitionLag {
  @Field(() => Int) partition!: number;
  @Field(() => Float) lag!: number;
}

@ObjectType({ description: 'The cluster as the instance that answered sees it; a single instance shows itself as the one member.' })
export class ClusterInfo {
  @Field({ description: 'The instance that answered.' }) instanceId!: string;
  @Field({ description: 'True in a cluster (TALLY_ADVERTISED_URL with Kafka).' }) clustered!: boolean;
  @Field(() => Int, { description: 'Assignment number of this map: grows with every rebalance; 0 for a single instance.' }) epoch!: number;
  @Field(() => Int, { description: 'Partitions of each source topic.' }) partitionCount!: number;
  @Field(() => [ClusterMemberInfo]) members!: ClusterMemberInfo[];
  @Field(() => [ClusterPartitionLag], { description: 'Lag of the partitions the answering instance is active for.' }) lag!: ClusterPartitionLag[];
}

@Resolver(() => ClusterInfo)
export class ClusterResolver {
  constructor(@Inject(ClusterState) private readonly state: ClusterState) {}

  @Query(() => ClusterInfo, { description: 'Members, their URLs, partitions (active / standby / restoring), epoch and lag, as GET /cluster.' })
  cluster(): ClusterInfo {
    return clusterReport(this.state);
  }
}
