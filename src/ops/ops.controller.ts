import { Controller, Get, Header, HttpCode, Inject, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { Health, type HealthReport } from './health.js';
import { Metrics } from './metrics.js';

/** `GET /health` and `GET /metrics`; both answer without a key. */
@Controller()
export class OpsController {
  constructor(
    @Inject(Health) private readonly health: Health,
    @Inject(Metrics) private readonly metrics: Metrics,
  ) {}

  /**
   * 200 while serving (state restored and, with Kafka, caught up and the consumer running);
   * 503 otherwise, with the same report (`restoring` while queries answer stale).
   */
  @Get('health')
  @HttpCode(200)
  healthCheck(@Res({ passthrough: true }) res: FastifyReply): HealthReport {
    const report = this.health.report();
    const serving = report.status === 'ok' && (report.kafka === undefined || report.kafka.connected);
    if (!serving) res.status(503);
    return report;
  }

  @Get('metrics')
  @Header('Cache-Control', 'no-store')
  async metricsText(@Res({ passthrough: true }) res: FastifyReply): Promise<string> {
    res.type(this.metrics.contentType);
    return this.metrics.text();
  }
}
