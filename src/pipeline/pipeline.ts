/**
 * The compiled pipeline: plain, validated, normalised data that every other part of Tally is
 * built from. Produced only by `loadPipeline` / `compilePipeline` (see load.ts); nothing here
 * has behaviour. Field paths are dotted (`card.id`) and already split into segments.
 */

export type Aggregation = 'count' | 'sum' | 'min' | 'max' | 'avg' | 'distinct' | 'quantile' | 'last' | 'topk';
export const AGGREGATIONS: readonly Aggregation[] = ['count', 'sum', 'min', 'max', 'avg', 'distinct', 'quantile', 'last', 'topk'];

/** Largest `k` of a topk feature: answers stay short and tiles small (their capacity is 4k). */
export const MAX_TOPK = 100;
/** `k` of a topk feature that declares none. */
export const DEFAULT_TOPK = 10;

export type ViewFieldType = 'float' | 'int' | 'string' | 'boolean' | 'float[]' | 'vector';
/** The scalar and list types, written as such; `vector` is written `vector(N)` (MAX_VECTOR_DIMS at most). */
export const VIEW_FIELD_TYPES: readonly ViewFieldType[] = ['float', 'int', 'string', 'boolean', 'float[]'];

export type VectorMetric = 'cosine' | 'l2' | 'ip';
export const VECTOR_METRICS: readonly VectorMetric[] = ['cosine', 'l2', 'ip'];
/** The most numbers a `vector(N)` field may declare. */
export const MAX_VECTOR_DIMS = 4096;

/** A view field: its type, and for `vector(N)` the dimensions and the metric of its index. */
export interface ViewFieldSpec {
  name: string;
  type: ViewFieldType;
  /** For type `vector`: N of `vector(N)`. */
  dims?: number;
  /** For type `vector`: the distance `similar` ranks by (default cosine). */
  metric?: VectorMetric;
}

/** How the pipeline file writes a field's type: `float`, `vector(128)`. */
export function fieldTypeText(f: ViewFieldSpec): string {
  return f.type === 'vector' ? `vector(${f.dims})` : f.type;
}

export type LeaderboardMode = 'incr' | 'max' | 'set';
export type LeaderboardPeriod = 'all' | 'hour' | 'day' | 'week';

export interface SourceSpec {
  name: string;
  /** Kafka topic (defaults to the source name). */
  topic: string;
  /** Field giving the event time (epoch ms or ISO-8601); absent = Kafka timestamp / arrival. */
  timestamp?: string[];
  /** Events older than the source's watermark minus this are rejected as `late`. */
  latenessMs: number;
  /**
   * `key:` the field whose value keys the events Tally produces to the topic (HTTP/GraphQL
   * ingest in a cluster); absent = the entity field all of the source's indexes share (message-key.ts).
   */
  key?: string[];
  /** Set for sources produced inside Tally (a geo index's fence events), not read from Kafka. */
  derivedFrom?: { geo: string };
}

export interface WindowSpec {
  /** As written in the pipeline file (`1m`, `lifetime`); also the GraphQL name. */
  label: string;
  /** Length in ms; `LIFETIME_MS` (Infinity) for lifetime. */
  ms: number;
}

export interface FeatureSpec {
  name: string;
  source: string;
  entity: string[];
  aggregation: Aggregation;
  /** The aggregated field (for `distinct` and `topk`, the item counted); absent only for `count`. */
  field?: string[];
  /** For `quantile`: the rank in (0, 1). */
  quantile?: number;
  /** For `topk`: how many items an answer lists (1..MAX_TOPK; DEFAULT_TOPK when not declared). */
  k?: number;
  /** For `topk`: a numeric field whose values are summed per item; absent = each event weighs 1. */
  weight?: string[];
  windows: WindowSpec[];
  /** How far back `at:` reads reach (`history:`): the raw events of this long plus the longest window are kept. */
  historyMs?: number;
  /** A CEL condition over the event (filter.ts); only events for which it is true feed this store. */
  where?: string;
  /**
   * A composite key's field paths (`entity: [user_id, campaign_id]`); the key is their values
   * joined with COMPOSITE_KEY_SEPARATOR (`u-17|c-2`). `entity` is then the first of them.
   */
  composite?: string[][];
}

export interface ViewSpec {
  name: string;
  source: string;
  entity: string[];
  fields: ViewFieldSpec[];
  ttlMs?: number;
  /** How far back `at:` reads reach (`history:`): every update of this long is kept. */
  historyMs?: number;
  /** A CEL condition over the event (filter.ts); only events for which it is true feed this store. */
  where?: string;
  /**
   * A composite key's field paths (`entity: [user_id, campaign_id]`); the key is their values
   * joined with COMPOSITE_KEY_SEPARATOR (`u-17|c-2`). `entity` is then the first of them.
   */
  composite?: string[][];
}

export interface LeaderboardSpec {
  name: string;
  source: string;
  member: string[];
  score: string[];
  mode: LeaderboardMode;
  period: LeaderboardPeriod;
  /** Past periods kept and queryable besides the current one. */
  keep: number;
  ttlMs?: number;
  ties: 'redis' | 'first';
  /** A CEL condition over the event (filter.ts); only events for which it is true feed this store. */
  where?: string;
}

export type FenceSpec =
  | { name: string; circle: { lat: number; lon: number; radiusMeters: number } }
  | { name: string; polygon: [number, number][] };

export interface GeoSpec {
  name: string;
  source: string;
  member: string[];
  lat: string[];
  lon: string[];
  ttlMs?: number;
  fences: FenceSpec[];
}

/** A request-time (on-demand) feature: computed when asked, from other features and the caller's values. */
export interface OnDemandSpec {
  name: string;
  /** Variables bound to served values: `feature:window` or `view:field` names. */
  inputs: { name: string; ref: string }[];
  /** Variables the caller passes per entity (onlineFeatures `context`), with their CEL types. */
  request: { name: string; type: 'double' | 'string' | 'bool' }[];
  /** A CEL expression over the inputs and request variables (checked at load). */
  expression: string;
}

export interface Pipeline {
  sources: SourceSpec[];
  features: FeatureSpec[];
  views: ViewSpec[];
  leaderboards: LeaderboardSpec[];
  geo: GeoSpec[];
  /** The `on_demand:` section; absent = none. */
  onDemand?: OnDemandSpec[];
}

/** Joins the values of a composite key: `u-17|c-2`; a value holding it is refused. */
export const COMPOSITE_KEY_SEPARATOR = '|';

/** The name of the derived source carrying a geo index's fence events. */
export function fenceSourceName(geoIndex: string): string {
  return `${geoIndex}.fences`;
}
