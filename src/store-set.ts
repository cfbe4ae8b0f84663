/**
 * The stores of a pipeline, built in one place: the Nest modules, tools (tally export) and
 * tests all get their stores from buildStores, so they are the same stores.
 */
import { FeatureStore, ViewStore } from './features/index.js';
import { GeoStore } from './geo/index.js';
import { LeaderboardStore } from './leaderboard/index.js';
import type { Pipeline } from './pipeline/pipeline.js';

/** Every store of a pipeline. */
export interface StoreSet {
  features: FeatureStore;
  views: ViewStore;
  leaderboards: LeaderboardStore;
  geo: GeoStore;
}

export function buildFeatureStore(p: Pipeline): FeatureStore {
  return new FeatureStore(p.features);
}

export function buildViewStore(p: Pipeline): ViewStore {
  return new ViewStore(p.views);
}

export function buildLeaderboardStore(p: Pipeline): LeaderboardStore {
  return new LeaderboardStore(p.leaderboards.map((l) => ({ name: l.name, mode: l.mode, period: l.period, keep: l.keep, ttlMs: l.ttlMs, ties: l.ties })));
}

export function buildGeoStore(p: Pipeline): GeoStore {
  return new GeoStore(p.geo.map((g) => ({ name: g.name, ttlMs: g.ttlMs, fences: g.fences })));
}

export function buildStores(p: Pipeline): StoreSet {
  return { features: buildFeatureStore(p), views: buildViewStore(p), leaderboards: buildLeaderboardStore(p), geo: buildGeoStore(p) };
}

/** Moves everything `from` holds into `into` (stores of one pipeline; `from` is not used afterwards); returns the entries moved. */
export function absorbStores(into: StoreSet, from: StoreSet): number {
  return into.features.absorb(from.features) + into.views.absorb(from.views) + into.leaderboards.absorb(from.leaderboards) + into.geo.absorb(from.geo);
}

/**
 * Drops every entity, member and geo member whose key `drop` selects from every store (the
 * partitions an instance handed over, selected by key); returns how many entries went.
 */
export function dropEntities(stores: StoreSet, drop: (key: string) => boolean): number {
  return stores.features.dropWhere(drop) + stores.views.dropWhere(drop) + stores.leaderboards.dropWhere(drop) + stores.geo.dropWhere(drop);
}
