import { Inject, Module, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import type { ApolloServerPlugin } from '@apollo/server';
import type { ApolloDriverConfig } from '@nestjs/apollo';
import { GraphQLModule, GraphQLSchemaHost } from '@nestjs/graphql';
import { Health } from '../../ops/health.js';
import type { Logger } from '../../ops/logger.js';
import { Metrics } from '../../ops/metrics.js';
import { ApiKeys } from '../../security/api-keys.js';
import { RateLimiter } from '../../security/rate-limiter.js';
import { SecurityModule } from '../../security/security.module.js';
import type { Limits } from '../../settings/limits.js';
import type { Settings } from '../../settings/settings.js';
import { LOGGER, SETTINGS } from '../../settings/tokens.js';
import { QueryFastPath } from '../query-fast-path.js';
import { securityPlugin } from './apollo-security.plugin.js';
import { DocumentScreen } from './document-screen.js';
import { OperationGate } from './operation-gate.js';
import { findWebSocketServer, WsSecurity } from './ws-security.js';

/**
 * What graphql.module.ts takes from here: the gate on HTTP and WebSocket, the token limit,
 * and the fast path for HTTP queries (its plugin learns the operations Apollo resolves).
 */
export class GraphqlSecurity {
  constructor(
    readonly gate: OperationGate,
    readonly ws: WsSecurity,
    private readonly limits: Limits,
    private readonly fastPath: QueryFastPath,
  ) {}

  /** Apollo driver options: `plugins`, the fast path's and the gate's plugins, the token limit, and graphql-ws hooks for `path`. */
  apolloOptions(path: string, plugins: ApolloServerPlugin[] = []): Required<Pick<ApolloDriverConfig, 'plugins' | 'parseOptions' | 'subscriptions'>> {
    return {
      plugins: [...plugins, this.fastPath.plugin(), securityPlugin(this.gate, (req) => this.fastPath.admitted(req)) as ApolloServerPlugin],
      parseOptions: { maxTokens: this.limits.maxTokens },
      subscriptions: { 'graphql-ws': this.ws.options(path) },
    };
  }
}

/** Limits the ws server once the GraphQL module has created it; stops the stall checks on shutdown. */
class WsHardening implements OnApplicationBootstrap, OnApplicationShutdown {
  constructor(
    private readonly moduleRef: ModuleRef,
    private readonly ws: WsSecurity,
  ) {}

  onApplicationBootstrap(): void {
    this.ws.harden(findWebSocketServer(this.moduleRef.get(GraphQLModule, { strict: false })));
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
      useFactory: (keys: ApiKeys, gate: OperationGate, s: Settings, m: Metrics, log: Logger, moduleRef: ModuleRef) =>
        new WsSecurity(keys, gate, s.limits, m, log, () => moduleRef.get(GraphQLSchemaHost, { strict: false }).schema),
      inject: [ApiKeys, OperationGate, SETTINGS, Metrics, LOGGER, ModuleRef],
    },
    { provide: QueryFastPath, useFactory: (gate: OperationGate, m: Metrics, health: Health) => new QueryFastPath(gate, m, health), inject: [OperationGate, Metrics, Health] },
    {
      provide: GraphqlSecurity,
      useFactory: (gate: OperationGate, ws: WsSecurity, s: Settings, fast: QueryFastPath) => new GraphqlSecurity(gate, ws, s.limits, fast),
      inject: [OperationGate, WsSecurity, SETTINGS, QueryFastPath],
    },
    { provide: WsHardening, useFactory: (moduleRef: ModuleRef, ws: WsSecurity) => new WsHardening(moduleRef, ws), inject: [ModuleRef, WsSecurity] },
  ],
  exports: [GraphqlSecurity, DocumentScreen, QueryFastPath],
})
export class GraphqlSecurityModule {
  constructor(@Inject(WsHardening) readonly hardening: WsHardening) {}
}
