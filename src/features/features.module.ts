import { buildFeatureStore, buildViewStore } from '../store-set.js';
import { Inject, Module, type OnModuleInit } from '@nestjs/common';
import { CLOCK, PIPELINE } from '../settings/tokens.js';
import type { Pipeline } from '../pipeline/pipeline.js';
import { Metrics } from '../ops/metrics.js';
import { Timers } from '../ops/timers.js';
import { FeatureStore } from './feature-store.js';
import { OnlineFeatures } from './online-features.js';
import { ViewStore } from './views/view-store.js';

/**
 * How often idle entities are looked for, and how many entities per feature one slice examines
 * at most: up to 20,000 per feature and second, in tenth-of-a-second slices, each store paced
 * by its retention (sweep-pace.ts: a 24 h feature of 100k entities examines 12 per slice). A
 * slice runs on the event loop between requests, so its length is a latency floor for queries:
 * with 100k entities in six features, one 20,000-entity pass a second paused serving for
 * 10-30 ms (the p99 of onlineFeatures at 2,000 req/s); a 2,000-entity slice takes about 1 ms.
 */
const SWEEP_INTERVAL_MS = 100;
const SWEEP_BUDGET = 2_000;

/** Frees idle and expired entities a slice at a time (a job of the process Timers), and reports live entities per feature and view. */
class IdleEntitySweeper implements OnModuleInit {
  constructor(
    private readonly store: FeatureStore,
    private readonly views: ViewStore,
    private readonly metrics: Metrics,
    private readonly clock: () => number,
    private readonly timers: Timers,
  ) {}

  onModuleInit(): void {
    this.timers.every('idle-sweep', SWEEP_INTERVAL_MS, () => {
      const now = this.clock();
      this.metrics.entitiesFreed.inc(this.store.sweep(now, SWEEP_BUDGET, SWEEP_INTERVAL_MS) + this.views.sweep(now, SWEEP_BUDGET, SWEEP_INTERVAL_MS));
    });
    this.metrics.onCollect(() => {
      for (const { name, entities } of this.store.sizes()) this.metrics.entities.set({ feature: name }, entities);
      for (const { name, entities } of this.views.sizes()) this.metrics.viewEntities.set({ view: name }, entities);
    });
  }
}

/** Builds the features engine (windowed features, views, online serving) from the pipeline. */
@Module({
  providers: [
    { provide: FeatureStore, useFactory: buildFeatureStore, inject: [PIPELINE] },
    { provide: ViewStore, useFactory: buildViewStore, inject: [PIPELINE] },
    { provide: OnlineFeatures, useFactory: (store: FeatureStore, views: ViewStore, p: Pipeline) => new OnlineFeatures(store, views, p.onDemand), inject: [FeatureStore, ViewStore, PIPELINE] },
    {
      provide: IdleEntitySweeper,
      useFactory: (s: FeatureStore, v: ViewStore, m: Metrics, c: () => number, t: Timers) => new IdleEntitySweeper(s, v, m, c, t),
      inject: [FeatureStore, ViewStore, Metrics, CLOCK, Timers],
    },
  ],
  exports: [FeatureStore, ViewStore, OnlineFeatures],
})
export class FeaturesModule {
  constructor(@Inject(IdleEntitySweeper) readonly sweeper: IdleEntitySweeper) {}
}
