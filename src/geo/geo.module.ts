import { buildGeoStore } from '../store-set.js';
import { Module } from '@nestjs/common';
import { PIPELINE } from '../settings/tokens.js';
import { GeoStore } from './geo-store.js';

/** Builds the geo indexes (and their fences) of the pipeline. */
@Module({
  providers: [{ provide: GeoStore, useFactory: buildGeoStore, inject: [PIPELINE] }],
  exports: [GeoStore],
})
export class GeoModule {}
