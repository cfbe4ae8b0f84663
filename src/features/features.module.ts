import { Module } from '@nestjs/common';
import { PIPELINE } from '../settings/tokens.js';
import type { Pipeline } from '../pipeline/pipeline.js';
import { FeatureStore } from './feature-store.js';
import { OnlineFeatures } from './online-features.js';

/** Builds the features engine from the pipeline's feature definitions. */
@Module({
  providers: [
    { provide: FeatureStore, useFactory: (p: Pipeline) => new FeatureStore(p.features), inject: [PIPELINE] },
    { provide: OnlineFeatures, useFactory: (store: FeatureStore) => new OnlineFeatures(store), inject: [FeatureStore] },
  ],
  exports: [FeatureStore, OnlineFeatures],
})
export class FeaturesModule {}
