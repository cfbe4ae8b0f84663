import { Global, Module } from '@nestjs/common';
import { CHANGES, LOGGER, SETTINGS } from '../settings/tokens.js';
import type { Settings } from '../settings/settings.js';
import { ChangeFeed } from '../changes/change-feed.js';
import { Health } from './health.js';
import { MemoryGuard } from './memory-guard.js';
import { createLogger } from './logger.js';
import { Metrics } from './metrics.js';
import { OpsController } from './ops.controller.js';
import { Timers } from './timers.js';

/** Process-wide services every module may use: logger, metrics, health, change feed, memory budget, the periodic timers. */
@Global()
@Module({
  controllers: [OpsController],
  providers: [
    { provide: LOGGER, useFactory: () => createLogger() },
    { provide: Metrics, useFactory: () => new Metrics() },
    { provide: CHANGES, useFactory: () => new ChangeFeed() },
    { provide: Timers, useFactory: () => new Timers() },
    { provide: Health, useFactory: (s: Settings) => new Health(s.kafkaBrokers.length > 0 ? 'kafka' : 'embedded'), inject: [SETTINGS] },
    {
      provide: MemoryGuard,
      useFactory: (s: Settings, m: Metrics) => {
        const guard = new MemoryGuard(s.limits.memoryBudgetBytes);
        guard.report(m);
        return guard;
      },
      inject: [SETTINGS, Metrics],
    },
  ],
  exports: [LOGGER, Metrics, CHANGES, Health, MemoryGuard, Timers],
})
export class OpsModule {}
