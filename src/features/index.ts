// Public face of the features engine: windowed aggregations (and, later, views).
export { FeatureStore, UnknownFeatureError } from './feature-store.js';
export { WindowedAggregator, scalarArray, type WindowDefinition, type WindowRead, type WindowedFeatureDefinition } from './windows/windowed-aggregator.js';
export { aggregatorFor, topkCapacity, type Aggregator, type EventValue } from './windows/aggregators.js';
export { HyperLogLog, hash32 } from './windows/hyperloglog.js';
export { QuantileSketch, QUANTILE_RELATIVE_ACCURACY } from './windows/quantile-sketch.js';
export { SpaceSaving, type SpaceSavingState, type TopAnswer, type TopItem } from './windows/space-saving.js';
export { MAX_TILES_PER_WINDOW, tileWidthFor, tileIndex, firstTileInWindow } from './windows/tiling.js';
export { ThresholdWatch, type Crossing, type Threshold } from './threshold-watch.js';
export { OnlineFeatures, MAX_CACHED_PLANS, type OnlineRow } from './online-features.js';
export { View, ViewStore, UnknownViewError, type ViewDefinition, type ViewValue, type VectorRead } from './views/view-store.js';
