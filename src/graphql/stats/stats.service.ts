/**
 * The numbers behind the `stats` query, read from the same counters as /metrics and from
 * the health report, so the dashboard needs nothing but GraphQL.
 */
import { Inject, Injectable } from '@nestjs/common';
import { Health } from '../../ops/health.js';
import { Metrics } from '../../ops/metrics.js';
import type { Pipeline } from '../../pipeline/pipeline.js';
import { CLOCK, PIPELINE } from '../../settings/tokens.js';
import type { PartitionLag, SourceStats, Stats } from './models/stats.model.js';

@Injectable()
export class StatsService {
  constructor(
    @Inject(Metrics) private readonly metrics: Metrics,
    @Inject(Health) private readonly health: Health,
    @Inject(PIPELINE) private readonly pipeline: Pipeline,
    @Inject(CLOCK) private readonly clock: () => number,
  ) {}

  async stats(): Promise<Stats> {
    const [accepted, rejected, lag] = await Promise.all([this.metrics.eventsAccepted.get(), this.metrics.eventsRejected.get(), this.metrics.consumerLag.get()]);
    // Every declared source is listed, in pipeline order, even before its first event.
    const bySource = new Map<string, SourceStats>(this.pipeline.sources.map((s) => [s.name, { source: s.name, accepted: 0, rejected: 0, rejectedByReason: [] }]));
    const row = (source: string): SourceStats => {
      let r = bySource.get(source);
      if (r === undefined) bySource.set(source, (r = { source, accepted: 0, rejected: 0, rejectedByReason: [] }));
      return r;
    };
    for (const v of accepted.values) row(String(v.labels.source)).accepted += v.value;
    for (const v of rejected.values) {
      const r = row(String(v.labels.source));
      r.rejected += v.value;
      r.rejectedByReason.push({ reason: String(v.labels.reason), count: v.value });
    }
    for (const r of bySource.values()) r.rejectedByReason.sort((a, b) => b.count - a.count || a.reason.localeCompare(b.reason));
    const partitions: PartitionLag[] = lag.values
      .map((v) => ({ topic: String(v.labels.topic), partition: Number(v.labels.partition), lag: v.value }))
      .sort((a, b) => a.topic.localeCompare(b.topic) || a.partition - b.partition);
    const report = this.health.report();
    const sources = [...bySource.values()];
    return {
      mode: report.mode,
      status: report.status,
      kafkaConnected: report.kafka ? report.kafka.connected : null,
      uptimeSeconds: report.uptimeSeconds,
      eventsAccepted: sources.reduce((n, s) => n + s.accepted, 0),
      eventsRejected: sources.reduce((n, s) => n + s.rejected, 0),
      sources,
      consumerLag: report.mode === 'kafka' ? partitions.reduce((n, p) => n + p.lag, 0) : null,
      partitions,
      asOf: new Date(this.clock()),
    };
  }
}
