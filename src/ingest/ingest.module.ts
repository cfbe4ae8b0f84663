import { Module, type OnApplicationBootstrap, type OnApplicationShutdown, type OnModuleDestroy, Inject } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { Server as HttpServer } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { FeaturesModule } from '../features/features.module.js';
import { GeoModule } from '../geo/geo.module.js';
import { GeoStore } from '../geo/index.js';
import { LeaderboardModule } from '../leaderboard/leaderboard.module.js';
import { LeaderboardStore } from '../leaderboard/index.js';
import { FeatureStore, OnlineFeatures, ViewStore } from '../features/index.js';
import type { Change, ChangeFeed } from '../changes/change-feed.js';
import type { Pipeline } from '../pipeline/pipeline.js';
import type { Settings } from '../settings/settings.js';
import { CHANGES, CLOCK, LOGGER, PIPELINE, SETTINGS } from '../settings/tokens.js';
import { Health } from '../ops/health.js';
import type { Logger } from '../ops/logger.js';
import { MemoryGuard } from '../ops/memory-guard.js';
import { Metrics } from '../ops/metrics.js';
import { EventIngest } from './event-ingest.js';
import { EventProcessor } from './event-processor.js';
import { IngestGate } from './ingest-gate.js';
import { IngestController } from './ingest.controller.js';
import { KafkaEventWriter, KafkaIngest } from './kafka-ingest.js';
import { ClusterIngest } from './cluster-ingest.js';
import { keyPartitioner } from './tally-assigner.js';
import { ClusterState } from '../cluster/cluster-state.js';
import { ClusterController } from '../cluster/cluster.controller.js';
import { Forwarding } from '../cluster/forwarding.js';
import { Timers } from '../ops/timers.js';
import { StandbyReplicas } from './standby.js';
import { pipelineHashOf } from '../durability/recovery.js';
import { Gather } from '../cluster/gather.js';
import { unkeyedStores } from '../cluster/keyed-stores.js';
import { PartialAnswers } from '../cluster/partials.js';
import { PointLookups } from '../cluster/lookups.js';
import { PeerBus, PeerBusServer } from '../cluster/peer-bus.js';
import { answerPeer } from '../cluster/peer-requests.js';
import { ApiKeys } from '../security/api-keys.js';
import { SecurityModule } from '../security/security.module.js';
import { isClusterMember } from '../settings/cluster.js';
import { Router } from './router.js';

/**
 * Stops the Kafka consumer on shutdown. Starting it belongs to recovery (src/durability),
 * which first restores the state and then seeks each partition to where that state ends.
 */
class KafkaLifecycle implements OnApplicationShutdown {
  constructor(
    private readonly kafka: KafkaIngest | null,
    private readonly writer: KafkaEventWriter | null,
  ) {}

  async onApplicationShutdown(): Promise<void> {
    await this.kafka?.stop();
    await this.writer?.close();
  }
}

/** How often member TTLs (leaderboards, geo) and leaderboard periods are applied. */
const EXPIRY_INTERVAL_MS = 1_000;

/**
 * Applies time-driven changes (TTL exits, period roll-over) once a second (a job of the process
 * Timers), except while the IngestGate is shut (a snapshot or a restore in progress): the next
 * tick catches up.
 */
class ExpiryTimer implements OnApplicationBootstrap {
  constructor(
    private readonly processor: EventProcessor,
    private readonly gate: IngestGate,
    private readonly clock: () => number,
    private readonly timers: Timers,
  ) {}

  onApplicationBootstrap(): void {
    this.timers.every('expiry', EXPIRY_INTERVAL_MS, () => {
      if (this.gate.open) this.processor.expire(this.clock());
    });
  }
}

/** The peer bus's two sides in a cluster: the answering one attached to the HTTP server once the app is bootstrapped; both closed with it. */
class PeerBusEndpoint implements OnApplicationBootstrap, OnModuleDestroy {
  constructor(
    private readonly server: PeerBusServer | undefined,
    private readonly client: PeerBus | undefined,
    private readonly host: HttpAdapterHost,
  ) {}

  onApplicationBootstrap(): void {
    if (this.server === undefined) return;
    this.server.attach(this.host.httpAdapter.getHttpServer() as HttpServer);
    // Cut as the HTTP server starts closing: an open socket would keep that close waiting.
    this.host.httpAdapter.getInstance<FastifyInstance>().addHook('preClose', (done) => {
      this.close();
      done();
    });
  }

  onModuleDestroy(): void {
    this.close();
  }

  private close(): void {
    this.server?.close();
    this.client?.close();
  }
}

/** The asking side of the peer bus: a member's sockets to its peers (none on a single instance). */
const PEER_BUS = Symbol('PEER_BUS');

@Module({
  imports: [FeaturesModule, LeaderboardModule, GeoModule, SecurityModule],
  controllers: [IngestController, ClusterController],
  providers: [
    {
      provide: ClusterState,
      useFactory: (s: Settings, metrics: Metrics) => {
        const state = new ClusterState({ instanceId: s.cluster.instanceId, url: s.cluster.advertisedUrl ?? '' }, isClusterMember(s.cluster, s.kafkaBrokers), keyPartitioner());
        state.standbyReplicas = s.cluster.standbyReplicas;
        metrics.onCollect(() => {
          const map = state.map;
          metrics.clusterEpoch.set(map.epoch);
          metrics.clusterMembers.set(map.members.length);
          metrics.clusterPartitions.reset();
          for (const m of map.members) metrics.clusterPartitions.set({ instance: m.instanceId }, m.partitions.length);
          metrics.clusterPartitionsRestoring.set(state.restoring().size);
          metrics.clusterPartitionLag.reset();
          const lags = state.lagOf?.();
          for (const p of state.localPartitions()) metrics.clusterPartitionLag.set({ partition: String(p) }, lags?.get(p) ?? 0);
        });
        return state;
      },
      inject: [SETTINGS, Metrics],
    },
    { provide: Router, useFactory: (p: Pipeline) => new Router(p), inject: [PIPELINE] },
    {
      provide: EventProcessor,
      useFactory: (router: Router, features: FeatureStore, views: ViewStore, leaderboards: LeaderboardStore, geo: GeoStore, changes: ChangeFeed<Change>, metrics: Metrics, log: Logger, clock: () => number, memory: MemoryGuard) =>
        new EventProcessor(router, { features, views, leaderboards, geo }, changes, metrics, log, clock, memory),
      inject: [Router, FeatureStore, ViewStore, LeaderboardStore, GeoStore, CHANGES, Metrics, LOGGER, CLOCK, MemoryGuard],
    },
    {
      provide: PEER_BUS,
      useFactory: (s: Settings) => (isClusterMember(s.cluster, s.kafkaBrokers) && s.cluster.secret !== undefined ? new PeerBus(s.cluster.secret) : undefined),
      inject: [SETTINGS],
    },
    {
      provide: Forwarding,
      // Stores keyed by another field than the message key are repartitioned (repartition.ts): every store's entity has one owner.
      useFactory: (s: Settings, state: ClusterState, metrics: Metrics, bus: PeerBus | undefined) => new Forwarding(state, s.cluster.secret, metrics.clusterForwarded, bus),
      inject: [SETTINGS, ClusterState, Metrics, PEER_BUS],
    },
    {
      // Forwarded point lookups answered for the entities owned here.
      provide: PointLookups,
      useFactory: (online: OnlineFeatures, features: FeatureStore, views: ViewStore, clock: () => number) => new PointLookups(online, features, views, clock),
      inject: [OnlineFeatures, FeatureStore, ViewStore, CLOCK],
    },
    {
      // Whole-set queries (leaderboards, geo, similar) in a cluster: asked of every member, merged.
      provide: Gather,
      useFactory: (s: Settings, state: ClusterState, leaderboards: LeaderboardStore, geo: GeoStore, views: ViewStore, metrics: Metrics, bus: PeerBus | undefined) =>
        new Gather(state, s.cluster.secret, new PartialAnswers(state.self.instanceId, leaderboards, geo, views, () => state.serving()), metrics.clusterGathered, bus),
      inject: [SETTINGS, ClusterState, LeaderboardStore, GeoStore, ViewStore, Metrics, PEER_BUS],
    },
    {
      // The peer bus: this member's answers to what peers ask (peer-requests.ts) on this HTTP port, and its own sockets to them.
      provide: PeerBusEndpoint,
      useFactory: (forwarding: Forwarding, lookups: PointLookups, gather: Gather, keys: ApiKeys, host: HttpAdapterHost, bus: PeerBus | undefined, log: Logger) =>
        new PeerBusEndpoint(
          bus === undefined ? undefined : new PeerBusServer((given) => forwarding.isPeerSecret(given), (request) => answerPeer(request, { keys, forwarding, lookups, gather, log })),
          bus,
          host,
        ),
      inject: [Forwarding, PointLookups, Gather, ApiKeys, HttpAdapterHost, PEER_BUS, LOGGER],
    },
    { provide: IngestGate, useFactory: () => new IngestGate() },
    {
      // In a cluster, HTTP/GraphQL ingest produces to the source topics (keyed) through this writer.
      provide: KafkaEventWriter,
      useFactory: (s: Settings) => (isClusterMember(s.cluster, s.kafkaBrokers) ? new KafkaEventWriter(s.kafkaBrokers, 'tally-ingest', { idempotent: true }) : null),
      inject: [SETTINGS],
    },
    {
      provide: EventIngest,
      useFactory: (p: EventProcessor, g: IngestGate, c: () => number, pipeline: Pipeline, writer: KafkaEventWriter | null) =>
        new EventIngest(p, g, c, writer === null ? undefined : new ClusterIngest(pipeline, writer)),
      inject: [EventProcessor, IngestGate, CLOCK, PIPELINE, KafkaEventWriter],
    },
    {
      provide: KafkaIngest,
      useFactory: (s: Settings, router: Router, processor: EventProcessor, metrics: Metrics, log: Logger, health: Health, gate: IngestGate, cluster: ClusterState, pipeline: Pipeline, timers: Timers) => {
        if (s.kafkaBrokers.length === 0) return null;
        const kafka = new KafkaIngest(
          {
            brokers: s.kafkaBrokers,
            groupId: s.kafkaGroupId,
            sessionTimeoutMs: s.durability.kafkaSessionTimeoutMs,
            stallMs: s.kafkaStallMs,
            partitions: s.cluster.partitions,
            cluster,
            handover: cluster.enabled ? { pipeline, pipelineHash: pipelineHashOf(pipeline) } : undefined,
            standby:
              cluster.enabled && s.cluster.standbyReplicas > 0
                ? new StandbyReplicas(StandbyReplicas.client(s.kafkaBrokers, s.cluster.instanceId), `${s.kafkaGroupId}.standby.${s.cluster.instanceId}`, router, pipeline, log)
                : undefined,
            repartition: cluster.enabled ? new Set(unkeyedStores(pipeline).keys()) : undefined,
          },
          router,
          processor,
          metrics,
          log,
          gate,
        );
        health.kafka = () => ({ connected: kafka.connected, brokers: s.kafkaBrokers, groupId: s.kafkaGroupId, lastFetchAt: kafka.lastFetch });
        // In a cluster: the served partitions' state in the state topic every TALLY_STATE_INTERVAL.
        if (cluster.enabled && s.cluster.stateIntervalMs > 0) timers.chain('cluster-state', s.cluster.stateIntervalMs, () => kafka.writeStates('interval'));
        health.degradation = () => kafka.degradation();
        return kafka;
      },
      inject: [SETTINGS, Router, EventProcessor, Metrics, LOGGER, Health, IngestGate, ClusterState, PIPELINE, Timers],
    },
    { provide: KafkaLifecycle, useFactory: (k: KafkaIngest | null, w: KafkaEventWriter | null) => new KafkaLifecycle(k, w), inject: [KafkaIngest, KafkaEventWriter] },
    { provide: ExpiryTimer, useFactory: (p: EventProcessor, g: IngestGate, c: () => number, t: Timers) => new ExpiryTimer(p, g, c, t), inject: [EventProcessor, IngestGate, CLOCK, Timers] },
  ],
  exports: [EventIngest, EventProcessor, Router, IngestGate, KafkaIngest, ClusterState, Forwarding, Gather],
})
export class IngestModule {
  constructor(
    @Inject(KafkaLifecycle) readonly lifecycle: KafkaLifecycle,
    @Inject(ExpiryTimer) readonly expiry: ExpiryTimer,
  ) {}
}
