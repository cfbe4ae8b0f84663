import { Module } from '@nestjs/common';
import { PIPELINE } from '../settings/tokens.js';
import type { Pipeline } from '../pipeline/pipeline.js';
import { GeoStore } from './geo-store.js';

/** Builds the geo indexes (and their fences) of the pipeline. */
@Module({
  providers: [{ provide: GeoStore, useFactory: (p: Pipeline) => new GeoStore(p.geo.map((g) => ({ name: g.name, ttlMs: g.ttlMs, fences: g.fences }))), inject: [PIPELINE] }],
  exports: [GeoStore],
})
export class GeoModule {}
