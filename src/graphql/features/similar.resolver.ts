import { Inject } from '@nestjs/common';
import { Args, Parent, Query, ResolveField, Resolver } from '@nestjs/graphql';
import { Forwarding } from '../../cluster/forwarding.js';
import { OnlineFeatures, ViewStore } from '../../features/index.js';
import { CLOCK } from '../../settings/tokens.js';
import { checkOnlineFeaturesArgs } from './dto/features.args.js';
import { SimilarArgs } from './dto/similar.args.js';
import { FeatureRow, toFeatureRowModel } from './models/feature-row.model.js';
import { SimilarHit } from './models/similar-hit.model.js';

/**
 * `similar`: the k nearest entities of a view's vector field, and on each hit its features in
 * the same request (`features(names:)`, what onlineFeatures answers for that entity).
 */
@Resolver(() => SimilarHit)
export class SimilarResolver {
  constructor(
    @Inject(ViewStore) private readonly views: ViewStore,
    @Inject(OnlineFeatures) private readonly online: OnlineFeatures,
    @Inject(CLOCK) private readonly clock: () => number,
    @Inject(Forwarding) private readonly cluster: Forwarding,
  ) {}

  @Query(() => [SimilarHit], {
    description: "The k entities whose vector in `field` is nearest, nearest first, among those of the view that are live and pass `where`. In a cluster, refused (PARTITIONS_UNAVAILABLE) until it is scattered across members.",
  })
  similar(@Args() { view, field, k, vector, entity, where }: SimilarArgs): SimilarHit[] {
    // In a cluster each member holds its partitions' vectors: until `similar` is scattered, an
    // answer from one member would be partial, so it is refused naming what is missing.
    this.cluster.requireAllPartitions('similar');
    return this.views.similar(view, { field, k, vector: vector ?? undefined, entity: entity ?? undefined, where: where ?? undefined }, this.clock());
  }

  @ResolveField(() => FeatureRow, { description: "This entity's values of `feature:window` and `view:field` names, as onlineFeatures answers them." })
  features(@Parent() hit: SimilarHit, @Args('names', { type: () => [String] }) names: string[]): FeatureRow {
    checkOnlineFeaturesArgs([hit.entity], names, 1);
    return toFeatureRowModel(this.online.fetch([hit.entity], names, this.clock())[0]);
  }
}
