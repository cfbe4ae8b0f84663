// The stores of a pipeline built as the Nest modules build them, for engine-level tests and
// benchmarks that run without the app.
import { FeatureStore, ViewStore } from '../../src/features/index.js';
import { GeoStore } from '../../src/geo/index.js';
import { LeaderboardStore } from '../../src/leaderboard/index.js';
import type { Pipeline } from '../../src/pipeline/pipeline.js';
import { ChangeFeed, type Change } from '../../src/changes/change-feed.js';
import { EventProcessor } from '../../src/ingest/event-processor.js';
import { Router } from '../../src/ingest/router.js';
import { createLogger } from '../../src/ops/logger.js';
import { Metrics } from '../../src/ops/metrics.js';

export interface PipelineStores {
  features: FeatureStore;
  views: ViewStore;
  leaderboards: LeaderboardStore;
  geo: GeoStore;
}

export function storesFor(p: Pipeline): PipelineStores {
  return {
    features: new FeatureStore(p.features),
    views: new ViewStore(p.views),
    leaderboards: new LeaderboardStore(p.leaderboards.map((l) => ({ name: l.name, mode: l.mode, period: l.period, keep: l.keep, ttlMs: l.ttlMs, ties: l.ties }))),
    geo: new GeoStore(p.geo.map((g) => ({ name: g.name, ttlMs: g.ttlMs, fences: g.fences }))),
  };
}

/**
 * The stores of `p` with the app's ingest path in front of them (router, processor) and the
 * change feed it publishes to, on `clock`: what the live services of src/graphql listen to.
 */
export function ingestPathFor(p: Pipeline, clock: () => number) {
  const stores = storesFor(p);
  const changes = new ChangeFeed<Change>();
  const processor = new EventProcessor(new Router(p), stores, changes, new Metrics(), createLogger('silent'), clock);
  return { stores, changes, processor };
}
