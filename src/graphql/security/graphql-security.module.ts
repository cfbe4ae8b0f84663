import { Inject, Module, type OnApplicationBootstrap, type OnApplicationShutdown, type OnModuleDestroy } from '@nestjs/common';
import { matchesSecret } from '../../cluster/forwarding.js';
import { PEER_BUS_PATH } from '../../cluster/peer-bus.js';
import { isClusterMember } from '../../settings/cluster.js';
import { HttpAdapterHost, ModuleRef } from '@nestjs/core';
import type { ApolloServerPlugin } from '@apollo/server';
import type { ApolloDriverConfig } from '@nestjs/apollo';
import { GraphQLSchemaHost } from '@nestjs/graphql';
import type { Server as HttpServer } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { Health } from '../../ops/health.js';
import type { Logger } from '../../ops/logger.js';
import { Metrics } from '../../ops/metrics.js';
import { ApiKeys } from '../../security/api-keys.js';
import { RateLimiter } from '../../security/rate-limiter.js';
import { SecurityModule } from '../../security/security.module.js';
import type { Limits } from '../../settings/limits.js';
import type { Settings } from '../../settings/settings.js';
import { LOGGER, SETTINGS } from '../../settings/tokens.js';
import { SubscriptionServer } from '../live/subscription-server.js';
import { QueryFastPath } from '../query-fast-path.js';
import { securityPlugin } from './apollo-security.plugin.js';
import { DocumentScreen } from './document-screen.js';
import { OperationGate } from './operation-gate.js';
import { MAX_FRAME_BYTES, WsSecurity } from './ws-security.js';

/** GraphQL over WebSocket shares the HTTP endpoint's path. */
const WS_PATH = '/graphql';

/**
 * What graphql.module.ts takes from here: the gate on HTTP, the token limit, and the fast path
 * for HTTP queries (its plugin learns the operations Apollo resolves). WebSocket is Tally's
 * own SubscriptionServer, not the Apollo driver's: see SubscriptionEndpoint.
 */
export class GraphqlSecurity {
  constructor(
    readonly gate: OperationGate,
    readonly ws: WsSecurity,
    private readonly limits: Limits,
    private readonly fastPath: QueryFastPath,
  ) {}

  /** Apollo driver options: `plugins`, the fast path's and the gate's plugins, the token limit (no `subscriptions`: the driver opens no WebSocket server). */
  apolloOptions(plugins: ApolloServerPlugin[] = []): Required<Pick<ApolloDriverConfig, 'plugins' | 'parseOptions'>> {
    return {
      plugins: [...plugins, this.fastPath.plugin(), securityPlugin(this.gate, (req) => this.fastPath.admitted(req)) as ApolloServerPlugin],
      parseOptions: { maxTokens: this.limits.maxTokens },
    };
  }
}

/**
 * GraphQL over WebSocket at /graphql: the SubscriptionServer, with ws-security's hooks and
 * frame limit and the stale flag of Health, takes the HTTP server's upgrades once the app is
 * bootstrapped and closes its connections (1001) when the app closes, as the Apollo driver
 * did for its own; the stall checks stop at shutdown.
 */
class SubscriptionEndpoint implements OnApplicationBootstrap, OnModuleDestroy, OnApplicationShutdown {
  readonly server: SubscriptionServer;

  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly ws: WsSecurity,
    health: Health,
    log: Logger,
    member: boolean,
  ) {
    this.server = new SubscriptionServer({
      path: WS_PATH,
      // A member's peer bus takes its own upgrades (src/cluster/peer-bus.ts).
      otherPaths: member ? new Set([PEER_BUS_PATH]) : undefined,
      maxPayload: MAX_FRAME_BYTES,
      hooks: ws.hooks(),
      extensions: () => health.staleExtensions() as Readonly<Record<string, unknown>> | undefined,
      // A socket's errors are the client's (a frame over the limit, bad UTF-8): ws closes it with the code that says so.
      onError: (err, where) => log[where === 'socket' ? 'debug' : 'error']({ where, error: err instanceof Error ? (err.stack ?? err.message) : String(err) }, 'WebSocket error'),
    });
  }

  onApplicationBootstrap(): void {
    this.server.attach(this.adapterHost.httpAdapter.getHttpServer() as HttpServer);
    // Closed as the HTTP server starts closing (Apollo's drain closes Fastify before any
    // module's destroy hook here runs): an open WebSocket would keep that close waiting forever.
    this.adapterHost.httpAdapter.getInstance<FastifyInstance>().addHook('preClose', () => this.server.close());
  }

  async onModuleDestroy(): Promise<void> {
    await this.server.close();
  }

  onApplicationShutdown(): void {
    this.ws.stop();
  }
}

@Module({
  imports: [SecurityModule],
  providers: [
    DocumentScreen,
    { provide: OperationGate, useFactory: (s: Settings, rate: RateLimiter, m: Metrics) => new OperationGate(s.limits, rate, m), inject: [SETTINGS, RateLimiter, Metrics] },
    {
      provide: WsSecurity,
      useFactory: (keys: ApiKeys, gate: OperationGate, s: Settings, m: Metrics, log: Logger, moduleRef: ModuleRef) => {
        const ws = new WsSecurity(keys, gate, s.limits, m, log, () => moduleRef.get(GraphQLSchemaHost, { strict: false }).schema);
        // Peers following entities they do not own (src/cluster/follow.ts) present the cluster secret.
        if (isClusterMember(s.cluster, s.kafkaBrokers)) ws.isPeer = (given) => matchesSecret(s.cluster.secret, given);
        return ws;
      },
      inject: [ApiKeys, OperationGate, SETTINGS, Metrics, LOGGER, ModuleRef],
    },
    { provide: QueryFastPath, useFactory: (gate: OperationGate, m: Metrics, health: Health) => new QueryFastPath(gate, m, health), inject: [OperationGate, Metrics, Health] },
    {
      provide: GraphqlSecurity,
      useFactory: (gate: OperationGate, ws: WsSecurity, s: Settings, fast: QueryFastPath) => new GraphqlSecurity(gate, ws, s.limits, fast),
      inject: [OperationGate, WsSecurity, SETTINGS, QueryFastPath],
    },
    {
      provide: SubscriptionEndpoint,
      useFactory: (adapterHost: HttpAdapterHost, ws: WsSecurity, health: Health, log: Logger, s: Settings) => new SubscriptionEndpoint(adapterHost, ws, health, log, isClusterMember(s.cluster, s.kafkaBrokers)),
      inject: [HttpAdapterHost, WsSecurity, Health, LOGGER, SETTINGS],
    },
  ],
  exports: [GraphqlSecurity, DocumentScreen, QueryFastPath],
})
export class GraphqlSecurityModule {
  constructor(@Inject(SubscriptionEndpoint) readonly endpoint: SubscriptionEndpoint) {}
}
