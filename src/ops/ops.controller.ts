import { Controller, Get, Header, HttpCode, Inject, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { Health, type HealthReport } from './health.js';
import { Metrics } from './metrics.js';

/**
 * Probes and metrics, all answering without a key, in Kubernetes' terms:
 *
 * - `GET /livez`: 200 whenever the process answers (liveness: restart it only when this fails);
 * - `GET /readyz`: 200 only when the state is restored, Kafka caught up and not degraded; 503
 *   otherwise (readiness: send it traffic only when this says so);
 * - `GET /health`: 200 while serving, `degraded` included (Kafka cannot be read: answers are
 *   stale, `reason` says why); 503 while starting, restoring, or refusing to become ready;
 * - `GET /metrics`: Prometheus.
 *
 * The three probes answer the same report (health.ts).
 */
@Controller()
export class OpsController {
  constructor(
    @Inject(Health) private readonly health: Health,
    @Inject(Metrics) private readonly metrics: Metrics,
  ) {}

  @Get('health')
  @HttpCode(200)
  healthCheck(@Res({ passthrough: true }) res: FastifyReply): HealthReport {
    const report = this.health.report();
    if (report.status !== 'ok' && report.status !== 'degraded') res.status(503);
    return report;
  }

  @Get('readyz')
  @HttpCode(200)
  readyCheck(@Res({ passthrough: true }) res: FastifyReply): HealthReport {
    const report = this.health.report();
    if (report.status !== 'ok') res.status(503);
    return report;
  }

  @Get('livez')
  @HttpCode(200)
  liveCheck(): HealthReport {
    return this.health.report();
  }

  @Get('metrics')
  @Header('Cache-Control', 'no-store')
  async metricsText(@Res({ passthrough: true }) res: FastifyReply): Promise<string> {
    res.type(this.metrics.contentType);
    return this.metrics.text();
  }
}
