/**
 * Point-in-time training sets: for each spine row (entity, timestamp, labels) the value of
 * each asked feature as of that timestamp, computed from the event history.
 *
 * The events are applied through Tally's own ingest path (router, lateness, filters, keys)
 * into stores whose features and views keep their whole history, in the order the history
 * gives them (Kafka: each partition in offset order; the embedded ingest log: in record
 * order), so what is accepted and how values are built is what a running instance does. Each
 * row is then an as-of read at its timestamp (WindowedAggregator.readAt, View.readAt): only
 * events with an event time at or before it count, never a later one. On-demand features
 * read their request values from the row's label columns of the same names.
 */
import { ChangeFeed, type Change } from '../changes/change-feed.js';
import { OnlineFeatures } from '../features/index.js';
import { InputError } from '../input-error.js';
import { EventProcessor } from '../ingest/event-processor.js';
import { Router } from '../ingest/router.js';
import { createLogger } from '../ops/logger.js';
import { Metrics } from '../ops/metrics.js';
import type { Pipeline, ViewFieldType } from '../pipeline/pipeline.js';
import { buildStores, type StoreSet } from '../store-set.js';

export interface SpineRow {
  entity: string;
  /** Epoch ms. */
  timestamp: number;
  /** The row's other columns, as read. */
  labels: Record<string, unknown>;
}

/** The kind of value a feature column holds (its Parquet type). */
export type ColumnKind = 'double' | 'string' | 'boolean' | 'json';

export interface HistoryStats {
  /** Events offered (accepted or refused). */
  offered: number;
  accepted: number;
  refused: number;
  /** Refusals by reason. */
  refusedBy: Record<string, number>;
}

export class TrainingSet {
  readonly stores: StoreSet;
  private readonly processor: EventProcessor;
  private readonly online: OnlineFeatures;
  readonly stats: HistoryStats = { offered: 0, accepted: 0, refused: 0, refusedBy: {} };

  /**
   * `names`: `feature:window`, `view:field` or on-demand feature names, as onlineFeatures takes
   * them. Throws InputError naming every unknown one.
   */
  constructor(
    pipeline: Pipeline,
    readonly names: readonly string[],
  ) {
    const stores = buildStores(withWholeHistory(pipeline));
    this.stores = stores;
    this.online = new OnlineFeatures(stores.features, stores.views, pipeline.onDemand ?? []);
    // Resolves every name now: an unknown one fails before any event is read.
    this.online.plan(names);
    this.processor = new EventProcessor(new Router(pipeline), stores, new ChangeFeed<Change>(), new Metrics(), createLogger('silent'));
    this.kinds = names.map((n) => columnKind(pipeline, n));
    for (const o of pipeline.onDemand ?? []) for (const r of o.request) this.requestTypes.set(r.name, r.type);
  }

  /** Request variables of on-demand features, with their types: CSV labels arrive as text and are read as these. */
  private readonly requestTypes = new Map<string, 'double' | 'string' | 'bool'>();

  /** Per asked name, the kind of its values. */
  readonly kinds: ColumnKind[];

  /** Applies one raw Kafka message of `source` (a topic's message, in partition order). */
  applyRaw(source: string, raw: Buffer | null, partition: number, kafkaTs: number | string): void {
    this.count(this.processor.ingestRaw(source, raw, partition, kafkaTs));
  }

  /** Applies one ingest-log record (HTTP / GraphQL ingest) with its recorded arrival time. */
  applyCall(source: string, events: unknown[], arrival: number): void {
    const outcome = this.processor.ingest(source, events, arrival);
    this.stats.offered += outcome.accepted + outcome.rejected;
    this.stats.accepted += outcome.accepted;
    this.stats.refused += outcome.rejected;
    for (const e of outcome.errors) this.refusal(e.message.split(':')[0]);
  }

  /**
   * The values of one row, in the order of `names`. Throws InputError when an on-demand
   * feature needs a request value the row does not carry.
   */
  values(row: SpineRow): unknown[] {
    const [r] = this.online.fetch([row.entity], this.names, Number.POSITIVE_INFINITY, [this.context(row.labels)], row.timestamp);
    return r.values;
  }

  /** The row's labels as request values: text of a number for a double, `true`/`false` for a bool. */
  private context(labels: Record<string, unknown>): Record<string, unknown> {
    if (this.requestTypes.size === 0) return labels;
    const out: Record<string, unknown> = { ...labels };
    for (const [name, type] of this.requestTypes) {
      const v = labels[name];
      if (typeof v !== 'string' || v.trim() === '') continue;
      if (type === 'double' && Number.isFinite(Number(v))) out[name] = Number(v);
      else if (type === 'bool' && (v === 'true' || v === 'false')) out[name] = v === 'true';
    }
    return out;
  }

  private count(result: { ok: boolean; reason?: string }): void {
    this.stats.offered++;
    if (result.ok) this.stats.accepted++;
    else {
      this.stats.refused++;
      this.refusal(result.reason ?? 'refused');
    }
  }

  private refusal(reason: string): void {
    this.stats.refusedBy[reason] = (this.stats.refusedBy[reason] ?? 0) + 1;
  }
}

/** The pipeline with every feature and view keeping its whole history (a training set reads any moment). */
function withWholeHistory(p: Pipeline): Pipeline {
  return {
    ...p,
    features: p.features.map((f) => ({ ...f, historyMs: Number.POSITIVE_INFINITY })),
    views: p.views.map((v) => ({ ...v, historyMs: Number.POSITIVE_INFINITY })),
  };
}

const VIEW_KIND: Record<ViewFieldType, ColumnKind> = { float: 'double', int: 'double', string: 'string', boolean: 'boolean', 'float[]': 'json', vector: 'json' };

function columnKind(p: Pipeline, name: string): ColumnKind {
  const at = name.lastIndexOf(':');
  const owner = at > 0 ? name.slice(0, at) : name;
  const view = p.views.find((v) => v.name === owner);
  if (view !== undefined) {
    const field = view.fields.find((f) => f.name === name.slice(at + 1));
    if (field !== undefined) return VIEW_KIND[field.type];
  }
  const feature = p.features.find((f) => f.name === owner);
  // A topk window is a list of { item, count, error }: JSON.
  if (feature !== undefined) return feature.aggregation === 'topk' ? 'json' : 'double';
  // On-demand: whatever the expression gives; JSON keeps every kind.
  if (p.onDemand?.some((o) => o.name === name)) return 'json';
  throw new InputError(`unknown feature "${name}"`);
}
