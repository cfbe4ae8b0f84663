// The stores of a pipeline built as the Nest modules build them, for engine-level tests and
// benchmarks that run without the app.
import { buildStores, type StoreSet } from '../../src/store-set.js';
import { ClusterState } from '../../src/cluster/cluster-state.js';
import { Gather } from '../../src/cluster/gather.js';
import { PartialAnswers } from '../../src/cluster/partials.js';
import type { Pipeline } from '../../src/pipeline/pipeline.js';
import { ChangeFeed, type Change } from '../../src/changes/change-feed.js';
import { EventProcessor } from '../../src/ingest/event-processor.js';
import { Router } from '../../src/ingest/router.js';
import { createLogger } from '../../src/ops/logger.js';
import { Metrics } from '../../src/ops/metrics.js';

export type PipelineStores = StoreSet;

/** The stores of `p`, as the app builds them. */
export function storesFor(p: Pipeline): PipelineStores {
  return buildStores(p);
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

/** The Gather of a single instance (whole-set reads answered locally), for services built without the app. */
export function singleInstanceGather(stores: PipelineStores): Gather {
  const state = new ClusterState({ instanceId: 'test', url: '' }, false, () => 0);
  return new Gather(state, undefined, new PartialAnswers('test', stores.leaderboards, stores.geo, stores.views, () => state.serving()));
}
