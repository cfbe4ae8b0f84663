import { Inject } from '@nestjs/common';
import { ServedLog } from './served-log.service.js';
import { GraphQLJSON } from 'graphql-type-json';
import { Args, Context, Query, Resolver, Subscription } from '@nestjs/graphql';
import { Forwarding } from '../../cluster/forwarding.js';
import type { OnlineRow } from '../../features/online-features.js';
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
import { authorizationOf, isClusterPeer, type GraphqlContext } from '../cluster/request-context.js';
import { ClusterLive } from '../live/cluster-live.service.js';


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
    @Inject(Forwarding) private readonly cluster: Forwarding,
    @Inject(ClusterLive) private readonly clusterLive: ClusterLive,
  ) {}

  @Query(() => FeatureValue, { description: 'One window of one windowed feature for one entity.' })
  feature(@Args() { name, entity, window, quantile, at }: FeatureQueryArgs, @Context() ctx?: GraphqlContext): FeatureValue | Promise<FeatureValue> {
    const local = () => {
      const now = this.clock();
      const asOf = at?.getTime();
      return toFeatureValueModel(name, entity, window, this.store.read(name, entity, window, now, quantile ?? undefined, asOf), asOf ?? now);
    };
    if (!this.cluster.enabled) return local();
    const owner = this.cluster.route(entity, false);
    if (owner === undefined) return local();
    return this.cluster
      .lookup(owner, { kind: 'feature', name, entity, window, quantile: quantile ?? undefined, at: at?.getTime() }, authorizationOf(ctx), () => this.cluster.route(entity, false))
      .then((read) => (read === undefined ? local() : toFeatureValueModel(name, entity, window, read, read.asOf)));
  }

  @Query(() => FeatureVector, { nullable: true, description: "A view's latest values for one entity, with each field's time; null when unknown or expired." })
  featureVector(@Args() { view, entity, at }: FeatureVectorArgs, @Context() ctx?: GraphqlContext): FeatureVector | null | Promise<FeatureVector | null> {
    const local = () => {
      const read = this.views.read(view, entity, this.clock(), at?.getTime());
      return read && toFeatureVectorModel(view, entity, read);
    };
    if (!this.cluster.enabled) return local();
    const owner = this.cluster.route(entity, false);
    if (owner === undefined) return local();
    return this.cluster
      .lookup(owner, { kind: 'vector', view, entity, at: at?.getTime() }, authorizationOf(ctx), () => this.cluster.route(entity, false))
      .then((read) => (read === undefined ? local() : read && toFeatureVectorModel(view, entity, read)));
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
    @Context() ctx?: GraphqlContext,
  ): FeatureRow[] | Promise<FeatureRow[]> {
    // Plain list arguments skip the global ValidationPipe (the hot path of inference clients).
    checkOnlineFeaturesArgs(entities, features, this.settings.limits.maxOnlineEntities);
    const now = this.clock();
    const asOf = at?.getTime() ?? undefined;
    if (!this.cluster.enabled) return this.answerRows(this.online.fetch(entities, features, now, context ?? undefined, asOf), features, asOf ?? now, log);
    return this.clusterRows(entities, features, now, context ?? undefined, asOf, ctx).then((rows) => this.answerRows(rows, features, asOf ?? now, log));
  }

  /** The rows as answered, logged (with the moment the values are for: the as-of time when given) when asked. */
  private answerRows(rows: OnlineRow[], features: string[], at: number, log: boolean | null | undefined): FeatureRow[] {
    if (!(log ?? this.served.always)) return rows.map((r) => toFeatureRowModel(r));
    const requestId = this.served.record(rows, features, at);
    return rows.map((r) => toFeatureRowModel(r, requestId));
  }

  /** onlineFeatures in a cluster: the local entities read here, the others in one request per owning member. */
  private async clusterRows(entities: string[], features: string[], now: number, context: unknown[] | undefined, asOf: number | undefined, ctx: GraphqlContext | undefined): Promise<OnlineRow[]> {
    const rows = new Array<OnlineRow | undefined>(entities.length);
    const local: number[] = [];
    const remote = new Map<string, { owner: Parameters<Forwarding['lookup']>[0]; at: number[] }>();
    entities.forEach((entity, i) => {
      const owner = this.cluster.route(entity, false);
      if (owner === undefined) local.push(i);
      else {
        const group = remote.get(owner.instanceId) ?? { owner, at: [] };
        group.at.push(i);
        remote.set(owner.instanceId, group);
      }
    });
    const fill = (at: number[]) => {
      const got = this.online.fetch(at.map((i) => entities[i]), features, now, context && at.map((i) => context[i]), asOf);
      at.forEach((i, k) => (rows[i] = got[k]));
    };
    fill(local);
    await Promise.all(
      [...remote.values()].map(async ({ owner, at }) => {
        const asked = at.map((i) => entities[i]);
        // Re-routed after a NOT_OWNER: the group may now be split over several members or be
        // local; the whole group is then read here if any of it is (rare: during a rebalance).
        const again = () => {
          const owners = new Set(asked.map((e) => this.cluster.route(e, false)?.instanceId));
          if (owners.size !== 1) throw new Error('entities of one request moved to different members during a rebalance');
          return asked.length > 0 ? this.cluster.route(asked[0], false) : undefined;
        };
        const got = await this.cluster.lookup(owner, { kind: 'rows', entities: asked, features, context: context && at.map((i) => context[i]), at: asOf }, authorizationOf(ctx), again);
        if (got === undefined) return fill(at);
        got.forEach((r, k) => (rows[at[k]] = r));
      }),
    );
    return rows as OnlineRow[];
  }

  @Subscription(() => FeatureValue, {
    resolve: (v: FeatureValue) => v,
    description: "Pushes the window's value when it changes: after each event of the entity, and when tiles leaving the window change it (down to 0 or null as it drains; for topk, its list or bound); coalesced.",
  })
  featureUpdated(@Args() { name, entity, window }: FeatureArgs) {
    if (!this.clusterLive.enabled) return this.live.featureUpdated(name, entity, window);
    return this.clusterLive.featureUpdated(name, entity, window);
  }

  @Subscription(() => ThresholdCrossing, {
    resolve: (v: ThresholdCrossing) => v,
    description: "Pushes when an entity's window value rises above `above` or drops under `below` (exactly one of the two), for any reason: an event or tiles leaving the window. Once per crossing. For topk the value is the heaviest item's count.",
  })
  featureThreshold(@Args() { name, window, above, below }: FeatureThresholdArgs, @Context() ctx?: GraphqlContext) {
    if (isClusterPeer(ctx)) return this.live.featureThreshold(name, window, { above, below }, this.clusterLive.served);
    if (!this.clusterLive.enabled) return this.live.featureThreshold(name, window, { above, below });
    return this.clusterLive.featureThreshold(name, window, { above, below });
  }

  @Subscription(() => FeatureVector, {
    nullable: true,
    resolve: (v: FeatureVector | null) => v,
    description: "The entity's vector now (when it has one), then each time an event changes it, and null when the view's TTL expires it (as featureVector answers); coalesced.",
  })
  viewUpdated(@Args() { view, entity }: FeatureVectorArgs) {
    if (!this.clusterLive.enabled) return this.viewLive.viewUpdated(view, entity);
    return this.clusterLive.viewUpdated(view, entity);
  }
}
