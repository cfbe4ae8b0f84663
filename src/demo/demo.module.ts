import { Inject, Module, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { EventIngest } from '../ingest/event-ingest.js';
import { IngestModule } from '../ingest/ingest.module.js';
import type { Logger } from '../ops/logger.js';
import type { Pipeline } from '../pipeline/pipeline.js';
import type { Settings } from '../settings/settings.js';
import { CLOCK, LOGGER, PIPELINE, SETTINGS } from '../settings/tokens.js';
import { DemoGenerator } from './demo-generator.js';
import { DemoRunner } from './demo-runner.js';
import { embeddedSink, kafkaSink } from './demo-sinks.js';

/** Runs the demo generator while the app runs when `settings.demo` is on (TALLY_DEMO): into the embedded ingest, or Kafka. */
class DemoLifecycle implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private runner: DemoRunner | undefined;

  constructor(
    private readonly settings: Settings,
    private readonly pipeline: Pipeline,
    private readonly ingest: EventIngest,
    private readonly log: Logger,
    private readonly clock: () => number,
  ) {}

  onApplicationBootstrap(): void {
    if (!this.settings.demo) return;
    // With Kafka, events go to the source topics (and come back through the consumer, as real traffic would).
    const sink = this.settings.kafkaBrokers.length > 0 ? kafkaSink(this.settings.kafkaBrokers, this.pipeline) : embeddedSink((source, events) => this.ingest.ingest(source, events));
    this.runner = new DemoRunner(new DemoGenerator(), sink, this.pipeline, { clock: this.clock, warn: (m) => this.log.warn(m) });
    this.runner.start();
    this.log.info({ sink: sink.name }, 'demo events on (TALLY_DEMO=0 turns them off)');
  }

  /** Stops before the ingest closes (and the last snapshot is taken). */
  async beforeApplicationShutdown(): Promise<void> {
    await this.runner?.stop();
  }
}

@Module({
  imports: [IngestModule],
  providers: [
    {
      provide: DemoLifecycle,
      useFactory: (s: Settings, p: Pipeline, ingest: EventIngest, log: Logger, clock: () => number) => new DemoLifecycle(s, p, ingest, log, clock),
      inject: [SETTINGS, PIPELINE, EventIngest, LOGGER, CLOCK],
    },
  ],
})
export class DemoModule {
  constructor(@Inject(DemoLifecycle) readonly lifecycle: DemoLifecycle) {}
}
