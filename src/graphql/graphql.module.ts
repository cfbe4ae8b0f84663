import { ApolloServerPluginCacheControlDisabled } from '@apollo/server/plugin/disabled';
import { ServedLog } from './features/served-log.service.js';
import { DateTimeScalar } from './scalars/date-time.scalar.js';
import { ApolloDriver, type ApolloDriverConfig } from '@nestjs/apollo';
import { Inject, Module, type OnModuleInit } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { GraphQLModule } from '@nestjs/graphql';
import { DurabilityModule } from '../durability/durability.module.js';
import { FeaturesModule } from '../features/features.module.js';
import { GeoModule } from '../geo/geo.module.js';
import { IngestModule } from '../ingest/ingest.module.js';
import { LeaderboardModule } from '../leaderboard/leaderboard.module.js';
import { Health } from '../ops/health.js';
import { Metrics } from '../ops/metrics.js';
import { ClusterResolver } from './cluster/cluster.resolver.js';
import { ClusterLive } from './live/cluster-live.service.js';
import { DurabilityResolver } from './durability/durability.resolver.js';
import { InputErrorFilter } from './errors.filter.js';
import { FeatureLiveService } from './features/feature-live.service.js';
import { FeaturesResolver } from './features/features.resolver.js';
import { SimilarResolver } from './features/similar.resolver.js';
import { ViewLiveService } from './features/view-live.service.js';
import { GeoLiveService } from './geo/geo-live.service.js';
import { GeoResolver } from './geo/geo.resolver.js';
import { GeoService } from './geo/geo.service.js';
import { IngestResolver } from './ingest/ingest.resolver.js';
import { LeaderboardResolver } from './leaderboard/leaderboard.resolver.js';
import { LeaderboardService } from './leaderboard/leaderboard.service.js';
import { metricsPlugin } from './metrics.plugin.js';
import { QueryFastPath } from './query-fast-path.js';
import { stalePlugin } from './stale.plugin.js';
import { GraphqlSecurity, GraphqlSecurityModule } from './security/graphql-security.module.js';
import { PipelineResolver } from './pipeline/pipeline.resolver.js';
import { StatsResolver } from './stats/stats.resolver.js';
import { StatsService } from './stats/stats.service.js';

/**
 * GraphQL at /graphql: Apollo Server over HTTP, graphql-ws for subscriptions on the same
 * path. The schema is built from the resolvers (code first); `npm run schema` writes it to
 * schema.gql, which is committed and checked by the tests.
 */
@Module({
  imports: [
    FeaturesModule,
    LeaderboardModule,
    GeoModule,
    IngestModule,
    DurabilityModule,
    GraphqlSecurityModule,
    GraphQLModule.forRootAsync<ApolloDriverConfig>({
      driver: ApolloDriver,
      imports: [GraphqlSecurityModule],
      inject: [Metrics, GraphqlSecurity, Health],
      useFactory: (metrics: Metrics, security: GraphqlSecurity, health: Health) => ({
        path: '/graphql',
        // No GraphiQL from the driver: it loads from a CDN. Tally serves its own, bundled, at /graphiql.
        graphiql: false,
        // TALLY_SCHEMA_FILE: write the generated schema there (`npm run schema` writes schema.gql).
        autoSchemaFile: process.env.TALLY_SCHEMA_FILE || true,
        sortSchema: true,
        // Date fields and arguments use Tally's DateTime (a time without a zone is UTC).
        buildSchemaOptions: { scalarsMap: [{ type: Date, scalar: DateTimeScalar }] },
        // plugins and parseOptions (token limit): keys, roles, demand control and rate limits
        // (src/graphql/security; WebSocket is its SubscriptionEndpoint, not the driver's). Apollo's cache-control
        // plugin is off: Tally sets no cache hints, and its per-field hook cost ~16 % of the CPU
        // of a 1 x 20 onlineFeatures request.
        ...security.apolloOptions([metricsPlugin(metrics), stalePlugin(health), ApolloServerPluginCacheControlDisabled()]),
        allowBatchedHttpRequests: false,
        csrfPrevention: true,
        introspection: process.env.NODE_ENV !== 'production',
        includeStacktraceInErrorResponses: false,
      }),
    }),
  ],
  providers: [FeaturesResolver, SimilarResolver, ServedLog, IngestResolver, FeatureLiveService, ViewLiveService, ClusterLive, LeaderboardResolver, LeaderboardService, GeoResolver, GeoService, GeoLiveService, PipelineResolver, StatsResolver, StatsService, DurabilityResolver, ClusterResolver, { provide: APP_FILTER, useClass: InputErrorFilter }],
})
export class TallyGraphqlModule implements OnModuleInit {
  constructor(
    @Inject(QueryFastPath) private readonly fastPath: QueryFastPath,
    @Inject(FeaturesResolver) private readonly features: FeaturesResolver,
  ) {}

  onModuleInit(): void {
    // The inference hot path. Tally's enhancers do nothing to a successful onlineFeatures: the
    // global guard passes GraphQL through (roles and rates are the OperationGate's), the global
    // ValidationPipe leaves list arguments alone (the resolver checks them), and the filter
    // only maps errors, which the fast path leaves to Apollo.
    this.fastPath.resolveDirectly('onlineFeatures', (args, context) =>
      this.features.onlineFeatures(
        args.entities as string[],
        args.features as string[],
        args.context as unknown[] | undefined,
        args.log as boolean | undefined,
        args.at as Date | undefined,
        context as Parameters<FeaturesResolver['onlineFeatures']>[5],
      ),
    );
  }
}
