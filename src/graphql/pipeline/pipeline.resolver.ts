import { Inject } from '@nestjs/common';
import { Query, Resolver } from '@nestjs/graphql';
import { GeoStore } from '../../geo/index.js';
import type { Pipeline } from '../../pipeline/pipeline.js';
import { PIPELINE } from '../../settings/tokens.js';
import { PipelineInfo, toPipelineInfoModel } from './models/pipeline-info.model.js';

@Resolver(() => PipelineInfo)
export class PipelineResolver {
  constructor(
    @Inject(PIPELINE) private readonly pipelineSpec: Pipeline,
    @Inject(GeoStore) private readonly geo: GeoStore,
  ) {}

  @Query(() => PipelineInfo, { description: 'What the pipeline file declares: sources, features, views, leaderboards, geo indexes and their fences.' })
  pipeline(): PipelineInfo {
    return toPipelineInfoModel(this.pipelineSpec, (index) => this.geo.get(index)?.size ?? 0);
  }
}
