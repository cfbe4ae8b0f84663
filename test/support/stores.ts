// The stores of a pipeline built as the Nest modules build them, for engine-level tests and
// benchmarks that run without the app.
import { FeatureStore, ViewStore } from '../../src/features/index.js';
import { GeoStore } from '../../src/geo/index.js';
import { LeaderboardStore } from '../../src/leaderboard/index.js';
import type { Pipeline } from '../../src/pipeline/pipeline.js';

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
