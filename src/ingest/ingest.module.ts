import { Module, type OnApplicationBootstrap, type OnApplicationShutdown, Inject } from '@nestjs/common';
import { FeaturesModule } from '../features/features.module.js';
import { FeatureStore, ViewStore } from '../features/index.js';
import type { Change, ChangeFeed } from '../changes/change-feed.js';
import type { Pipeline } from '../pipeline/pipeline.js';
import type { Settings } from '../settings/settings.js';
import { CHANGES, CLOCK, LOGGER, PIPELINE, SETTINGS } from '../settings/tokens.js';
import { Health } from '../ops/health.js';
import type { Logger } from '../ops/logger.js';
import { Metrics } from '../ops/metrics.js';
import { EventIngest } from './event-ingest.js';
import { EventProcessor } from './event-processor.js';
import { IngestController } from './ingest.controller.js';
import { KafkaIngest } from './kafka-ingest.js';
import { Router } from './router.js';

/** Starts the Kafka consumer (when KAFKA_BROKERS is set) once the app is built, stops it first on shutdown. */
class KafkaLifecycle implements OnApplicationBootstrap, OnApplicationShutdown {
  constructor(
    private readonly kafka: KafkaIngest | null,
    private readonly health: Health,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    if (this.kafka) await this.kafka.start();
    this.health.status = 'ok';
  }

  async onApplicationShutdown(): Promise<void> {
    await this.kafka?.stop();
  }
}

@Module({
  imports: [FeaturesModule],
  controllers: [IngestController],
  providers: [
    { provide: Router, useFactory: (p: Pipeline) => new Router(p), inject: [PIPELINE] },
    {
      provide: EventProcessor,
      useFactory: (router: Router, features: FeatureStore, views: ViewStore, changes: ChangeFeed<Change>, metrics: Metrics, log: Logger, clock: () => number) =>
        new EventProcessor(router, { features, views }, changes, metrics, log, clock),
      inject: [Router, FeatureStore, ViewStore, CHANGES, Metrics, LOGGER, CLOCK],
    },
    { provide: EventIngest, useFactory: (p: EventProcessor) => new EventIngest(p), inject: [EventProcessor] },
    {
      provide: KafkaIngest,
      useFactory: (s: Settings, router: Router, processor: EventProcessor, metrics: Metrics, log: Logger, health: Health) => {
        if (s.kafkaBrokers.length === 0) return null;
        const kafka = new KafkaIngest({ brokers: s.kafkaBrokers, groupId: s.kafkaGroupId }, router, processor, metrics, log);
        health.kafka = () => ({ connected: kafka.connected, brokers: s.kafkaBrokers, groupId: s.kafkaGroupId });
        return kafka;
      },
      inject: [SETTINGS, Router, EventProcessor, Metrics, LOGGER, Health],
    },
    { provide: KafkaLifecycle, useFactory: (k: KafkaIngest | null, h: Health) => new KafkaLifecycle(k, h), inject: [KafkaIngest, Health] },
  ],
  exports: [EventIngest, EventProcessor, Router],
})
export class IngestModule {
  constructor(@Inject(KafkaLifecycle) readonly lifecycle: KafkaLifecycle) {}
}
