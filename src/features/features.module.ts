import { Inject, Module, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { CLOCK, PIPELINE } from '../settings/tokens.js';
import type { Pipeline } from '../pipeline/pipeline.js';
import { Metrics } from '../ops/metrics.js';
import { FeatureStore } from './feature-store.js';
import { OnlineFeatures } from './online-features.js';

/** How often idle entities are looked for, and how many entities per feature one pass examines. */
const SWEEP_INTERVAL_MS = 1_000;
const SWEEP_BUDGET = 20_000;

/** Frees idle entities a slice at a time, and reports live entities per feature. */
class IdleEntitySweeper implements OnModuleInit, OnModuleDestroy {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: FeatureStore,
    private readonly metrics: Metrics,
    private readonly clock: () => number,
  ) {}

  onModuleInit(): void {
    this.timer = setInterval(() => this.metrics.entitiesFreed.inc(this.store.sweep(this.clock(), SWEEP_BUDGET)), SWEEP_INTERVAL_MS);
    this.timer.unref();
    this.metrics.onCollect(() => {
      for (const { name, entities } of this.store.sizes()) this.metrics.entities.set({ feature: name }, entities);
    });
  }

  onModuleDestroy(): void {
    clearInterval(this.timer);
  }
}

/** Builds the features engine from the pipeline's feature definitions. */
@Module({
  providers: [
    { provide: FeatureStore, useFactory: (p: Pipeline) => new FeatureStore(p.features), inject: [PIPELINE] },
    { provide: OnlineFeatures, useFactory: (store: FeatureStore) => new OnlineFeatures(store), inject: [FeatureStore] },
    { provide: IdleEntitySweeper, useFactory: (s: FeatureStore, m: Metrics, c: () => number) => new IdleEntitySweeper(s, m, c), inject: [FeatureStore, Metrics, CLOCK] },
  ],
  exports: [FeatureStore, OnlineFeatures],
})
export class FeaturesModule {
  constructor(@Inject(IdleEntitySweeper) readonly sweeper: IdleEntitySweeper) {}
}
