import { Inject } from '@nestjs/common';
import { ServedLog } from './served-log.service.js';
import { GraphQLJSON } from 'graphql-type-json';
import { Args, Query, Resolver, Subscription } from '@nestjs/graphql';
import { FeatureStore, OnlineFeatures, ViewStore } from '../../features/index.js';
import type { Settings } from '../../settings/settings.js';
import { CLOCK, SETTINGS } from '../../settings/tokens.js';
import { AS_OF_DESCRIPTION, checkOnlineFeaturesArgs, FeatureArgs, FeatureQueryArgs, FeatureThresholdArgs, FeatureVectorArgs } from './dto/features.args.js';
import { FeatureLiveService } from './feature-live.service.js';
import { FeatureRow, toFeatureRowModel } from './models/feature-row.model.js';
import { FeatureValue, toFeatureValueModel } from './models/feature-value.model.js';
import { FeatureVector, toFeatureVectorModel } from './models/feature-vector.model.js';
import { ThresholdCrossing } from './models/threshold-crossing.model.js';
import { ViewLiveService } from './view-live.service.js';

@Resolver(() => FeatureValue)
export class FeaturesResolver {
  constructor(
    @Inject(FeatureStore) private readonly store: FeatureStore,
    @Inject(ViewStore) private readonly views: ViewStore,
    @Inject(OnlineFeatures) private readonly online: OnlineFeatures,
    @Inject(FeatureLiveService) private readonly live: FeatureLiveService,
    @Inject(CLOCK) private readonly clock: () => number,
    @Inject(SETTINGS) private readonly settings: Settings,
    @Inject(ViewLiveService) private readonly viewLive: ViewLiveService,
    @Inject(ServedLog) private readonly served: ServedLog,
  ) {}

  @Query(() => FeatureValue, { description: 'One window of one windowed feature for one entity.' })
  feature(@Args() { name, entity, window, quantile, at }: FeatureQueryArgs): FeatureValue {
    const now = this.clock();
    const asOf = at?.getTime();
    return toFeatureValueModel(name, entity, window, this.store.read(name, entity, window, now, quantile ?? undefined, asOf), asOf ?? now);
  }

  @Query(() => FeatureVector, { nullable: true, description: "A view's latest values for one entity, with each field's time; null when unknown or expired." })
  featureVector(@Args() { view, entity, at }: FeatureVectorArgs): FeatureVector | null {
    const read = this.views.read(view, entity, this.clock(), at?.getTime());
    return read && toFeatureVectorModel(view, entity, read);
  }

  @Query(() => [FeatureRow], { description: 'Many entities x many `feature:window` and `view:field` names in one call, values in the order asked; a topk window gives its list, [{ item, count, error }] heaviest first.' })
  onlineFeatures(
    @Args('entities', { type: () => [String] }) entities: string[],
    @Args('features', { type: () => [String] }) features: string[],
    @Args('context', { type: () => [GraphQLJSON], nullable: 'itemsAndList', description: "Per entity (in the order of `entities`), the request's values that on-demand features read, e.g. { amount: 120.5 }." })
    context?: unknown[] | null,
    @Args('log', { type: () => Boolean, nullable: true, description: 'Write this answer to the served-feature log (always, with TALLY_SERVED_LOG=1); each row then carries the request id.' })
    log?: boolean | null,
    @Args('at', { type: () => Date, nullable: true, description: AS_OF_DESCRIPTION }) at?: Date | null,
  ): FeatureRow[] {
    // Plain list arguments skip the global ValidationPipe (the hot path of inference clients).
    checkOnlineFeaturesArgs(entities, features, this.settings.limits.maxOnlineEntities);
    const now = this.clock();
    const asOf = at?.getTime();
    const rows = this.online.fetch(entities, features, now, context ?? undefined, asOf);
    if (!(log ?? this.served.always)) return rows.map((r) => toFeatureRowModel(r));
    // Logged with the moment the values are for: the as-of time when given.
    const requestId = this.served.record(rows, features, asOf ?? now);
    return rows.map((r) => toFeatureRowModel(r, requestId));
  }

  @Subscription(() => FeatureValue, {
    resolve: (v: FeatureValue) => v,
    description: "Pushes the window's value when it changes: after each event of the entity, and when tiles leaving the window change it (down to 0 or null as it drains; for topk, its list or bound); coalesced.",
  })
  featureUpdated(@Args() { name, entity, window }: FeatureArgs) {
    return this.live.featureUpdated(name, entity, window);
  }

  @Subscription(() => ThresholdCrossing, {
    resolve: (v: ThresholdCrossing) => v,
    description: "Pushes when an entity's window value rises above `above` or drops under `below` (exactly one of the two), for any reason: an event or tiles leaving the window. Once per crossing. For topk the value is the heaviest item's count.",
  })
  featureThreshold(@Args() { name, window, above, below }: FeatureThresholdArgs) {
    return this.live.featureThreshold(name, window, { above, below });
  }

  @Subscription(() => FeatureVector, {
    nullable: true,
    resolve: (v: FeatureVector | null) => v,
    description: "The entity's vector now (when it has one), then each time an event changes it, and null when the view's TTL expires it (as featureVector answers); coalesced.",
  })
  viewUpdated(@Args() { view, entity }: FeatureVectorArgs) {
    return this.viewLive.viewUpdated(view, entity);
  }
}
