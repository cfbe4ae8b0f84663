import { Inject } from '@nestjs/common';
import { Query, Resolver } from '@nestjs/graphql';
import { Stats } from './models/stats.model.js';
import { StatsService } from './stats.service.js';

@Resolver(() => Stats)
export class StatsResolver {
  constructor(@Inject(StatsService) private readonly statsService: StatsService) {}

  @Query(() => Stats, { description: 'Events accepted and refused per source, consumer lag per partition, mode and uptime (the numbers of /metrics).' })
  stats(): Promise<Stats> {
    return this.statsService.stats();
  }
}
