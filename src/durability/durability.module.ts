import { Module, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { InputError } from '../input-error.js';
import { FeaturesModule } from '../features/features.module.js';
import { FeatureStore, ViewStore } from '../features/index.js';
import { GeoModule } from '../geo/geo.module.js';
import { GeoStore } from '../geo/index.js';
import { EventIngest } from '../ingest/event-ingest.js';
import { EventProcessor } from '../ingest/event-processor.js';
import { IngestGate } from '../ingest/ingest-gate.js';
import { IngestModule } from '../ingest/ingest.module.js';
import { KafkaIngest } from '../ingest/kafka-ingest.js';
import { LeaderboardModule } from '../leaderboard/leaderboard.module.js';
import { LeaderboardStore } from '../leaderboard/index.js';
import { Health } from '../ops/health.js';
import type { Logger } from '../ops/logger.js';
import { Metrics } from '../ops/metrics.js';
import { Timers } from '../ops/timers.js';
import type { Pipeline } from '../pipeline/pipeline.js';
import type { Settings } from '../settings/settings.js';
import { CLOCK, LOGGER, PIPELINE, SETTINGS } from '../settings/tokens.js';
import { digestStores, type StateDigest } from './digest.js';
import { Recovery, pipelineHashOf } from './recovery.js';
import { Snapshotter, type SnapshotInfo } from './snapshotter.js';
import type { StoreSet } from './store-codec.js';

/** Asked for a snapshot when none can be written now; the message says why. */
export class SnapshotUnavailableError extends InputError {
  constructor(message: string) {
    super(message);
    this.name = 'SnapshotUnavailableError';
  }
}

/**
 * Durability for the running app: recovery at start (awaited preparation, then the restore in
 * the background while queries answer stale), snapshots on an interval, on demand and on
 * graceful shutdown (before Kafka stops and the HTTP server closes), and the state digest.
 */
export class Durability implements OnApplicationBootstrap, BeforeApplicationShutdown {
  readonly recovery: Recovery;
  private snapshotter: Snapshotter | undefined;
  private stopping = false;

  constructor(
    private readonly settings: Settings,
    private readonly pipeline: Pipeline,
    private readonly stores: StoreSet,
    private readonly processor: EventProcessor,
    ingest: EventIngest,
    private readonly gate: IngestGate,
    private readonly kafka: KafkaIngest | null,
    health: Health,
    private readonly log: Logger,
    private readonly clock: () => number,
    private readonly metrics: Metrics,
    private readonly timers: Timers,
  ) {
    this.recovery = new Recovery({
      dataDir: settings.dataDir,
      fsync: settings.fsync,
      rebuildFromEarliest: settings.durability.rebuildFromEarliest,
      stores,
      processor,
      ingest,
      gate,
      kafka,
      health,
      metrics,
      log,
      pipelineHash: pipelineHashOf(pipeline),
    });
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.recovery.prepare();
    if (this.recovery.snapshots) {
      this.snapshotter = new Snapshotter({
        dir: this.recovery.snapshots,
        stores: this.stores,
        gate: this.gate,
        watermarks: () => this.processor.watermarks.states(),
        dedup: () => this.processor.dedup.partitions().map((partition) => ({ partition, entries: this.processor.dedup.export(partition) })),
        kafka: this.kafka,
        ingestLog: this.recovery.ingestLog,
        keep: this.settings.durability.snapshotKeep,
        mode: this.kafka ? 'kafka' : 'embedded',
        pipeline: pipelineHashOf(this.pipeline),
        clock: this.clock,
        log: this.log,
        writeDelayMs: this.settings.durability.snapshotWriteDelayMs,
        onWritten: (info) => {
          this.metrics.snapshotLast.set(info.createdAt / 1000);
          this.metrics.snapshotBytes.set(info.bytes);
          this.metrics.snapshotSeconds.observe(info.durationMs / 1000);
          this.metrics.snapshotIngestHeld.observe(info.ingestPausedMs / 1000);
        },
        onFailed: () => this.metrics.snapshotFailures.inc(),
      });
    }
    void this.recovery.run(() => this.schedule());
  }

  /** Interval snapshots (a job of the process Timers), each counted from the end of the previous one. */
  private schedule(): void {
    const every = this.settings.durability.snapshotIntervalMs;
    if (this.snapshotter === undefined || every === 0 || this.stopping) return;
    const snapshotter = this.snapshotter;
    this.timers.chain('snapshot', every, () => snapshotter.snapshot('interval'));
  }

  /** Writes a snapshot now (the admin mutation). */
  snapshot(reason = 'admin'): Promise<SnapshotInfo> {
    if (this.snapshotter === undefined) return Promise.reject(new SnapshotUnavailableError('snapshots are off: TALLY_DATA_DIR is not set'));
    if (!this.recovery.consistent) return Promise.reject(new SnapshotUnavailableError(`the state is not restored yet (${this.recovery.state})`));
    if (this.stopping) return Promise.reject(new SnapshotUnavailableError('shutting down'));
    return this.snapshotter.snapshot(reason);
  }

  /** The digest of every store as read at `at` (ingest held while it is computed). */
  async digest(at: number = this.clock()): Promise<StateDigest> {
    await this.gate.pause();
    try {
      return await digestStores(this.stores, this.processor.watermarks.states(), at);
    } finally {
      this.gate.resume();
    }
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopping = true;
    this.timers.cancel('snapshot');
    if (this.snapshotter && this.recovery.consistent) {
      await this.snapshotter.snapshot('shutdown').catch(() => undefined);
    }
    this.gate.close();
    await this.recovery.ingestLog?.close();
  }
}

@Module({
  imports: [FeaturesModule, LeaderboardModule, GeoModule, IngestModule],
  providers: [
    {
      provide: Durability,
      useFactory: (
        settings: Settings,
        pipeline: Pipeline,
        features: FeatureStore,
        views: ViewStore,
        leaderboards: LeaderboardStore,
        geo: GeoStore,
        processor: EventProcessor,
        ingest: EventIngest,
        gate: IngestGate,
        kafka: KafkaIngest | null,
        health: Health,
        log: Logger,
        clock: () => number,
        metrics: Metrics,
        timers: Timers,
      ) => new Durability(settings, pipeline, { features, views, leaderboards, geo }, processor, ingest, gate, kafka, health, log, clock, metrics, timers),
      inject: [SETTINGS, PIPELINE, FeatureStore, ViewStore, LeaderboardStore, GeoStore, EventProcessor, EventIngest, IngestGate, KafkaIngest, Health, LOGGER, CLOCK, Metrics, Timers],
    },
  ],
  exports: [Durability],
})
export class DurabilityModule {}
