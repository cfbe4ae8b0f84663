import { Inject } from '@nestjs/common';
import { Args, Context, Parent, Query, ResolveField, Resolver } from '@nestjs/graphql';
import { Forwarding } from '../../cluster/forwarding.js';
import { Gather } from '../../cluster/gather.js';
import { OnlineFeatures, ViewStore } from '../../features/index.js';
import { mergeByDistance } from '../../features/vectors/merge.js';
import { InputError } from '../../input-error.js';
import { CLOCK } from '../../settings/tokens.js';
import { authorizationOf, type GraphqlContext } from '../cluster/request-context.js';
import { FeaturesResolver } from './features.resolver.js';
import { checkOnlineFeaturesArgs } from './dto/features.args.js';
import { SimilarArgs } from './dto/similar.args.js';
import { FeatureRow, toFeatureRowModel } from './models/feature-row.model.js';
import { SimilarHit } from './models/similar-hit.model.js';

/**
 * `similar`: the k nearest entities of a view's vector field, and on each hit its features in
 * the same request (`features(names:)`, what onlineFeatures answers for that entity).
 *
 * In a cluster each member holds its partitions' vectors: the query is asked of every member
 * (src/cluster/gather.ts) at one moment and the k nearest of their answers kept (each member's
 * k nearest hold the k nearest of all). By entity, its vector is first asked of every member
 * (its owner answers), then searched near with the entity left out. A hit's features are read
 * where its entity is owned, as onlineFeatures reads them.
 */
@Resolver(() => SimilarHit)
export class SimilarResolver {
  constructor(
    @Inject(ViewStore) private readonly views: ViewStore,
    @Inject(OnlineFeatures) private readonly online: OnlineFeatures,
    @Inject(CLOCK) private readonly clock: () => number,
    @Inject(Forwarding) private readonly cluster: Forwarding,
    @Inject(Gather) private readonly gather: Gather,
    @Inject(FeaturesResolver) private readonly rows: FeaturesResolver,
  ) {}

  @Query(() => [SimilarHit], {
    description: "The k entities whose vector in `field` is nearest, nearest first, among those of the view that are live and pass `where`. In a cluster, asked of every member and merged.",
  })
  similar(@Args() { view, field, k, vector, entity, where }: SimilarArgs, @Context() ctx?: GraphqlContext): SimilarHit[] | Promise<SimilarHit[]> {
    const now = this.clock();
    if (!this.gather.enabled) return this.views.similar(view, { field, k, vector: vector ?? undefined, entity: entity ?? undefined, where: where ?? undefined }, now);
    return this.gathered(view, field, k, vector ?? undefined, entity ?? undefined, where ?? undefined, now, authorizationOf(ctx));
  }

  private async gathered(view: string, field: string, k: number, vector: number[] | undefined, entity: string | undefined, where: string | undefined, now: number, authorization: string | undefined): Promise<SimilarHit[]> {
    if ((vector === undefined) === (entity === undefined)) throw new InputError('similar takes exactly one of vector and entity');
    let near = vector;
    if (entity !== undefined) {
      const found = await this.gather.all({ kind: 'vectorOf', view, field, entity, now }, authorization);
      near = found.find((v) => v !== null) ?? undefined;
      if (near === undefined) return []; // not live anywhere, as one instance answers
    }
    const parts = await this.gather.all({ kind: 'similar', view, field, k, vector: near!, where, exclude: entity, now }, authorization);
    return mergeByDistance(parts, k);
  }

  @ResolveField(() => FeatureRow, { description: "This entity's values of `feature:window` and `view:field` names, as onlineFeatures answers them." })
  features(@Parent() hit: SimilarHit, @Args('names', { type: () => [String] }) names: string[], @Context() ctx?: GraphqlContext): FeatureRow | Promise<FeatureRow> {
    checkOnlineFeaturesArgs([hit.entity], names, 1);
    if (!this.cluster.enabled) return toFeatureRowModel(this.online.fetch([hit.entity], names, this.clock())[0]);
    // In a cluster the entity may be another member's: read where it is owned.
    return Promise.resolve(this.rows.onlineFeatures([hit.entity], names, undefined, false, undefined, ctx)).then((r) => r[0]);
  }
}
