/**
 * Prometheus metrics (`GET /metrics`). One registry per application instance, so tests can
 * run several apps in one process. This is the only file that imports prom-client.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class Metrics {
  readonly registry = new Registry();

  /**
   * Accepted events not yet added to eventsAccepted, per source: the ingest path counts each
   * event in a plain number (a labelled inc() hashes its labels on every call), and the
   * counts are added whenever the counter is read (scrape, stats).
   */
  private readonly acceptedPending = new Map<string, { n: number }>();
  readonly eventsAccepted = new Counter({
    name: 'tally_events_accepted_total',
    help: 'Events applied to the stores, per source',
    labelNames: ['source'] as const,
    registers: [this.registry],
    collect: () => this.flushAccepted(),
  });
  readonly eventsRejected = new Counter({ name: 'tally_events_rejected_total', help: 'Events refused, per source and reason', labelNames: ['source', 'reason'] as const, registers: [this.registry] });
  readonly dlqWritten = new Counter({ name: 'tally_dlq_messages_total', help: 'Refused Kafka events written to <topic>.dlq', labelNames: ['topic'] as const, registers: [this.registry] });
  readonly consumerLag = new Gauge({ name: 'tally_kafka_consumer_lag', help: 'Messages behind the partition high watermark after the last batch', labelNames: ['topic', 'partition'] as const, registers: [this.registry] });
  readonly dlqWriteFailures = new Counter({ name: 'tally_dlq_write_failures_total', help: 'Failed writes of refused Kafka events to <topic>.dlq (the batch is retried; snapshots wait until they are written)', labelNames: ['topic'] as const, registers: [this.registry] });
  readonly kafkaConnected = new Gauge({ name: 'tally_kafka_connected', help: '1 while the Kafka consumer fetches; 0 when stopped or when it could not fetch for longer than TALLY_KAFKA_STALL_MS', registers: [this.registry] });
  readonly kafkaStalls = new Counter({ name: 'tally_kafka_stalls_total', help: 'Times the Kafka consumer could not fetch for longer than TALLY_KAFKA_STALL_MS (broker gone, no partition leader, consumer crashed)', registers: [this.registry] });
  readonly kafkaLastFetch = new Gauge({ name: 'tally_kafka_last_fetch_timestamp_seconds', help: 'When the Kafka consumer last received a fetch response', registers: [this.registry] });
  // Cluster (README "Scaling out"); a single instance shows itself as the one member.
  readonly clusterEpoch = new Gauge({ name: 'tally_cluster_epoch', help: 'Epoch (assignment number) of the cluster map this instance holds; 0 for a single instance', registers: [this.registry] });
  readonly clusterMembers = new Gauge({ name: 'tally_cluster_members', help: 'Members in the cluster map this instance holds', registers: [this.registry] });
  readonly clusterPartitions = new Gauge({ name: 'tally_cluster_partitions_active', help: 'Partitions each member is active for, per the map this instance holds', labelNames: ['instance'] as const, registers: [this.registry] });
  readonly clusterGathered = new Counter({ name: 'tally_cluster_gathered_total', help: 'Whole-set queries (leaderboards, geo) gathered across the members, by outcome (ok, retried after a map change, failed naming partitions)', labelNames: ['outcome'] as const, registers: [this.registry] });
  readonly clusterHandoverLoaded = new Counter({ name: 'tally_cluster_handover_loaded_total', help: 'Partitions this instance took over by loading the state their last owner handed over (state topic), instead of replaying them', registers: [this.registry] });
  readonly clusterStandbyPromoted = new Counter({ name: 'tally_cluster_standby_promoted_total', help: 'Partitions this instance took over by promoting its standby copy (TALLY_STANDBY_REPLICAS=1), without replay', registers: [this.registry] });
  readonly clusterPartitionsRestoring = new Gauge({ name: 'tally_cluster_partitions_restoring', help: 'Partitions this instance is rebuilding from Kafka (assigned without state); their keys are refused until done', registers: [this.registry] });
  readonly clusterPartitionLag = new Gauge({ name: 'tally_cluster_partition_lag', help: 'Messages not yet applied per partition number this instance is active for (summed over source topics), at the last batch', labelNames: ['partition'] as const, registers: [this.registry] });
  readonly clusterForwarded = new Counter({ name: 'tally_cluster_forwarded_total', help: 'Point lookups forwarded to the owning member, per outcome (ok, moved, failed)', labelNames: ['outcome'] as const, registers: [this.registry] });
  readonly graphqlDuration = new Histogram({
    name: 'tally_graphql_request_duration_seconds',
    help: 'GraphQL request latency (HTTP), per operation type',
    labelNames: ['operation'] as const,
    // From 100 us to 1 s: queries are expected in single-digit milliseconds.
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  });
  readonly entities = new Gauge({ name: 'tally_feature_entities', help: 'Entities holding state, per windowed feature', labelNames: ['feature'] as const, registers: [this.registry] });
  readonly viewStaleUpdates = new Counter({ name: 'tally_view_stale_updates_total', help: 'View fields not applied because a newer value was already there (stale-update)', labelNames: ['view'] as const, registers: [this.registry] });
  readonly viewEntities = new Gauge({ name: 'tally_view_entities', help: 'Entities holding a vector, per view', labelNames: ['view'] as const, registers: [this.registry] });
  readonly leaderboardLate = new Counter({ name: 'tally_leaderboard_late_updates_total', help: 'Leaderboard updates for periods older than the kept ones (not applied)', labelNames: ['leaderboard'] as const, registers: [this.registry] });
  readonly entitiesFreed = new Counter({ name: 'tally_feature_entities_freed_total', help: 'Idle entities freed', registers: [this.registry] });

  // Security and hardening (SECURITY.md).
  readonly requestsRefused = new Counter({
    name: 'tally_requests_refused_total',
    help: 'Requests and operations refused before running, per transport (http, ws) and reason (unauthenticated, forbidden, rate-limited, too-deep, ...)',
    labelNames: ['transport', 'reason'] as const,
    registers: [this.registry],
  });
  readonly wsConnections = new Gauge({ name: 'tally_ws_connections', help: 'Authenticated WebSocket connections', registers: [this.registry] });
  readonly wsSlowConsumers = new Counter({ name: 'tally_ws_slow_consumers_dropped_total', help: 'WebSocket connections dropped because they did not read what was sent', registers: [this.registry] });
  readonly subscriptionCoalesced = new Counter({ name: 'tally_subscription_messages_coalesced_total', help: 'Subscription messages merged into a newer one for the same key before the client took it', registers: [this.registry] });
  readonly subscriptionDropped = new Counter({ name: 'tally_subscription_messages_dropped_total', help: 'Subscription messages dropped because the queue of a slow client was full', registers: [this.registry] });
  readonly memoryBudget = new Gauge({ name: 'tally_memory_budget_bytes', help: 'TALLY_MEMORY_BUDGET: heap + external memory above which new entities are refused', registers: [this.registry] });
  readonly memoryUsed = new Gauge({ name: 'tally_memory_used_bytes', help: 'Heap + external memory at the last check (includes garbage not yet collected)', registers: [this.registry] });
  readonly memoryFull = new Gauge({ name: 'tally_memory_over_budget', help: '1 while memory is at or above the budget (new entities are refused)', registers: [this.registry] });
  readonly snapshotLast = new Gauge({ name: 'tally_snapshot_last_success_timestamp_seconds', help: 'When the stores of the last snapshot written were captured', registers: [this.registry] });
  readonly snapshotBytes = new Gauge({ name: 'tally_snapshot_bytes', help: 'Size of the last snapshot written', registers: [this.registry] });
  readonly snapshotSeconds = new Histogram({ name: 'tally_snapshot_duration_seconds', help: 'Snapshot writes, request to file in place', buckets: [0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60], registers: [this.registry] });
  readonly snapshotIngestHeld = new Histogram({ name: 'tally_snapshot_ingest_held_seconds', help: 'How long each snapshot held ingest while the stores were serialised', buckets: [0.001, 0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10], registers: [this.registry] });
  readonly servedLogged = new Counter({ name: 'tally_served_log_records_total', help: 'onlineFeatures answers written to the served-feature log', registers: [this.registry] });
  readonly servedLogDropped = new Counter({ name: 'tally_served_log_dropped_total', help: 'onlineFeatures answers the served-feature log could not write (sink down, buffer full)', registers: [this.registry] });
  readonly internalErrors = new Counter({
    name: 'tally_internal_errors_total',
    help: 'Failures inside Tally (not the client\'s input), per place: ingest (one event refused as internal-error), graphql (an answer with INTERNAL_SERVER_ERROR), replay (an ingest-log record skipped)',
    labelNames: ['where'] as const,
    registers: [this.registry],
  });
  readonly snapshotFailures = new Counter({ name: 'tally_snapshot_failures_total', help: 'Snapshot writes that failed', registers: [this.registry] });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'tally_' });
  }

  private readonly collectors: (() => void)[] = [];

  /** The pending accepted-events count of `source`: add to `n`; it reaches eventsAccepted at the next read. */
  acceptedCount(source: string): { n: number } {
    let c = this.acceptedPending.get(source);
    if (c === undefined) {
      c = { n: 0 };
      this.acceptedPending.set(source, c);
    }
    return c;
  }

  private flushAccepted(): void {
    for (const [source, c] of this.acceptedPending) {
      if (c.n > 0) {
        this.eventsAccepted.inc({ source }, c.n);
        c.n = 0;
      }
    }
  }

  /** Runs `fn` before each scrape, to refresh gauges that are cheaper to read than to track. */
  onCollect(fn: () => void): void {
    this.collectors.push(fn);
  }

  text(): Promise<string> {
    for (const fn of this.collectors) fn();
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
