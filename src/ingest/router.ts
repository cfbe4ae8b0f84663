/**
 * The router: compiled once from the pipeline, it turns one decoded event of a source into
 * the typed updates of every store that source feeds, or into a rejection with a reason.
 * Pure and synchronous (no I/O, no clock: `arrival` is passed in), so the whole topology is
 * testable without a broker, as Kafka Streams tests its topologies.
 *
 * One event is all-or-nothing: if any store it feeds cannot take it (a missing entity, a
 * non-numeric amount), the event is rejected as a whole and nothing is applied. A store with
 * a `where:` filter (src/pipeline/filter.ts) is fed only the events it matches; one it does not
 * match is not checked for that store's fields either.
 */
import type { EventValue } from '../features/index.js';
import { COMPOSITE_KEY_SEPARATOR, type FeatureSpec, type GeoSpec, type LeaderboardSpec, type Pipeline, type SourceSpec, type ViewFieldSpec, type ViewFieldType, type ViewSpec } from '../pipeline/pipeline.js';
import { formatTime, MAX_TIME_MS, parseTime } from '../pipeline/time.js';
import { compileFilter, type EventFilter } from '../pipeline/filter.js';
import { DEPTH_SCAN_MIN_CHARS, firstTooDeep } from './json-depth.js';

export type RejectReason =
  | 'unknown-source'
  | 'invalid-json'
  | 'not-an-object'
  | 'missing-field'
  | 'wrong-type'
  | 'invalid-value'
  | 'invalid-timestamp'
  | 'future-timestamp'
  | 'late'
  | 'too-large'
  | 'internal-error'
  | 'memory-budget'
  | 'too-deep'
  | 'source-internal';


export type Update =
  /** `weight`: topk features only, the item's weight (1 when the feature declares no `weight` field). */
  | { store: 'feature'; name: string; entity: string; value: EventValue; weight?: number }
  | { store: 'view'; name: string; entity: string; fields: Record<string, unknown> }
  | { store: 'leaderboard'; name: string; member: string; score: number }
  | { store: 'geo'; name: string; member: string; lat: number; lon: number };

export interface Routed {
  ok: true;
  source: string;
  /** Event time in epoch ms. */
  ts: number;
  updates: Update[];
}

export interface Rejected {
  ok: false;
  source: string;
  reason: RejectReason;
  message: string;
}

export type RouteResult = Routed | Rejected;

/** Keys longer than this are refused: they would let one producer grow memory without bound. */
export const MAX_KEY_LENGTH = 512;
/** Events stamped further ahead of the arrival clock are refused, or they would push the watermark forward and make every later event late. */
export const MAX_FUTURE_MS = 5 * 60_000;
/** Raw events larger than this are refused before parsing. */
export const MAX_EVENT_BYTES = 1 << 20;
/**
 * Events nesting objects and arrays deeper than this are refused: JSON.parse takes any depth,
 * but JSON.stringify (the ingest log) and other recursive code overflow the stack a few
 * thousand levels down. Real events nest a few levels.
 */
export const MAX_EVENT_DEPTH = 64;

/** True when `value` nests objects or arrays more than `max` levels deep (an object is 1). Iterative; no allocation for a flat event. */
export function nestedDeeperThan(value: unknown, max: number = MAX_EVENT_DEPTH): boolean {
  if (value === null || typeof value !== 'object') return false;
  let stack: [object, number][] | undefined;
  let node: object = value;
  let depth = 1;
  for (;;) {
    if (depth > max) return true;
    for (const k in node) {
      const child = (node as Record<string, unknown>)[k];
      if (child !== null && typeof child === 'object') (stack ??= []).push([child, depth + 1]);
    }
    const next = stack?.pop();
    if (next === undefined) return false;
    [node, depth] = next;
  }
}

/**
 * Largest magnitude of a number that is added up (sum and avg features, `incr` leaderboards).
 * A float sum of such numbers stays finite for 10^108 events, so no sum can overflow to
 * Infinity (which no JSON or GraphQL Float can carry); larger numbers are refused.
 */
export const MAX_SUMMED_MAGNITUDE = 1e200;

/** Latitudes Redis (and so Tally) accept: the limits of Web Mercator. */
const MAX_LAT = 85.05112878;

type Getter = (event: Record<string, unknown>) => unknown;

function getter(path: string[]): Getter {
  if (path.length === 1) {
    const [k] = path;
    return (e) => e[k];
  }
  return (e) => {
    let v: unknown = e;
    for (const k of path) {
      if (v === null || typeof v !== 'object') return undefined;
      v = (v as Record<string, unknown>)[k];
    }
    return v;
  };
}

class Reject extends Error {
  constructor(
    readonly reason: RejectReason,
    message: string,
  ) {
    super(message);
  }
}

const show = (v: unknown): string => {
  const s = typeof v === 'string' ? JSON.stringify(v) : Array.isArray(v) ? 'an array' : v === null ? 'null' : typeof v === 'object' ? 'an object' : String(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
};

function key(get: Getter, path: string[], event: Record<string, unknown>, what: string): string {
  const v = get(event);
  if (v === undefined || v === null) throw new Reject('missing-field', `missing ${what} field "${path.join('.')}"`);
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  if (typeof v !== 'string') throw new Reject('wrong-type', `${what} field "${path.join('.')}" must be a string or number, got ${show(v)}`);
  if (v.length === 0) throw new Reject('invalid-value', `${what} field "${path.join('.')}" is empty`);
  if (v.length > MAX_KEY_LENGTH) throw new Reject('invalid-value', `${what} field "${path.join('.')}" is longer than ${MAX_KEY_LENGTH} characters`);
  return v;
}

function num(get: Getter, path: string[], event: Record<string, unknown>): number {
  const v = get(event);
  if (v === undefined || v === null) throw new Reject('missing-field', `missing field "${path.join('.')}"`);
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new Reject('wrong-type', `field "${path.join('.')}" must be a finite number, got ${show(v)}`);
  return v;
}

/** num() of a value that is added up: also within ±MAX_SUMMED_MAGNITUDE. */
function summed(get: Getter, path: string[], event: Record<string, unknown>): number {
  const v = num(get, path, event);
  if (v > MAX_SUMMED_MAGNITUDE || v < -MAX_SUMMED_MAGNITUDE) {
    throw new Reject('invalid-value', `field "${path.join('.')}" is ${show(v)}; numbers that are added up must lie within ±${MAX_SUMMED_MAGNITUDE} (a sum must stay finite)`);
  }
  return v;
}

/** A topk weight: a summed number that is also 0 or more (Space-Saving's bounds need it). */
function weightOf(get: Getter, path: string[], event: Record<string, unknown>): number {
  const v = summed(get, path, event);
  if (v < 0) throw new Reject('invalid-value', `weight field "${path.join('.')}" is ${show(v)}; topk weights must be 0 or more`);
  return v;
}

/** Aggregations that add their inputs up (their sums must stay finite). */
const SUMMING: ReadonlySet<string> = new Set(['sum', 'avg']);

/** The entity key of an event for one store: a field's value, or a composite key's values joined. Throws Reject. */
type KeyOf = (event: Record<string, unknown>) => string;

/**
 * The key getter of a feature or view: one field (key()), or for `entity: [a, b]` each
 * field's key joined with COMPOSITE_KEY_SEPARATOR (`u-17|c-2`); a value holding the separator
 * is refused, so two different pairs never make the same key.
 */
function entityGetter(spec: { entity: string[]; composite?: string[][] }): KeyOf {
  if (spec.composite === undefined) {
    const get = getter(spec.entity);
    return (e) => key(get, spec.entity, e, 'entity');
  }
  const parts = spec.composite.map((path) => ({ path, get: getter(path) }));
  return (e) => {
    let out = '';
    for (let i = 0; i < parts.length; i++) {
      const v = key(parts[i].get, parts[i].path, e, 'entity');
      if (v.includes(COMPOSITE_KEY_SEPARATOR)) {
        throw new Reject('invalid-value', `entity field "${parts[i].path.join('.')}" holds "${COMPOSITE_KEY_SEPARATOR}", the separator of composite keys`);
      }
      out = i === 0 ? v : out + COMPOSITE_KEY_SEPARATOR + v;
    }
    if (out.length > MAX_KEY_LENGTH) throw new Reject('invalid-value', `the composite key of fields ${parts.map((p) => `"${p.path.join('.')}"`).join(', ')} is longer than ${MAX_KEY_LENGTH} characters`);
    return out;
  };
}

interface CompiledFeature {
  spec: FeatureSpec;
  /** Index of the `where:` filter in CompiledSource.filters; -1 for none. */
  filter: number;
  entity: KeyOf;
  field?: Getter;
  /** topk: the weight field, if declared. */
  weight?: Getter;
  /** The update routeShared() fills in for this store. */
  slot: Extract<Update, { store: 'feature' }>;
}
interface CompiledView {
  spec: ViewSpec;
  filter: number;
  entity: KeyOf;
  fields: ViewFieldSpec[];
  slot: Extract<Update, { store: 'view' }>;
}
interface CompiledLeaderboard {
  spec: LeaderboardSpec;
  filter: number;
  member: Getter;
  score: Getter;
  slot: Extract<Update, { store: 'leaderboard' }>;
}
interface CompiledGeo {
  spec: GeoSpec;
  member: Getter;
  lat: Getter;
  lon: Getter;
  slot: Extract<Update, { store: 'geo' }>;
}
interface CompiledSource {
  spec: SourceSpec;
  timestamp?: Getter;
  features: CompiledFeature[];
  views: CompiledView[];
  leaderboards: CompiledLeaderboard[];
  geo: CompiledGeo[];
  /** The result routeShared() fills in and returns for this source, once built. */
  shared?: Routed;
  /** The distinct `where:` conditions of the source's stores (stores with the same text share one). */
  filters: EventFilter[];
  /** Per event, each filter's verdict once asked: 0 not yet, 1 true, 2 false. */
  verdicts: Uint8Array;
  whereIndex: Map<string, number>;
}

export class Router {
  private readonly sources = new Map<string, CompiledSource>();
  private readonly topics = new Map<string, string>();

  constructor(pipeline: Pipeline) {
    for (const spec of pipeline.sources) {
      this.sources.set(spec.name, { spec, timestamp: spec.timestamp && getter(spec.timestamp), features: [], views: [], leaderboards: [], geo: [], filters: [], verdicts: new Uint8Array(0), whereIndex: new Map() });
      if (!spec.derivedFrom) this.topics.set(spec.topic, spec.name);
    }
    const filter = (spec: { source: string; where?: string }): number => {
      const source = this.sources.get(spec.source);
      if (spec.where === undefined || source === undefined) return -1;
      let i = source.whereIndex.get(spec.where);
      if (i === undefined) {
        i = source.filters.push(compileFilter(spec.where)) - 1;
        source.whereIndex.set(spec.where, i);
        source.verdicts = new Uint8Array(source.filters.length);
      }
      return i;
    };
    for (const spec of pipeline.features) {
      const slot: CompiledFeature['slot'] = spec.aggregation === 'topk' ? { store: 'feature', name: spec.name, entity: '', value: '', weight: 1 } : { store: 'feature', name: spec.name, entity: '', value: 1 };
      this.sources.get(spec.source)?.features.push({ spec, entity: entityGetter(spec), field: spec.field && getter(spec.field), weight: spec.weight && getter(spec.weight), filter: filter(spec), slot });
    }
    for (const spec of pipeline.views) {
      this.sources.get(spec.source)?.views.push({ spec, entity: entityGetter(spec), fields: spec.fields, filter: filter(spec), slot: { store: 'view', name: spec.name, entity: '', fields: {} } });
    }
    for (const spec of pipeline.leaderboards) {
      this.sources.get(spec.source)?.leaderboards.push({ spec, member: getter(spec.member), score: getter(spec.score), filter: filter(spec), slot: { store: 'leaderboard', name: spec.name, member: '', score: 0 } });
    }
    for (const spec of pipeline.geo) {
      this.sources.get(spec.source)?.geo.push({ spec, member: getter(spec.member), lat: getter(spec.lat), lon: getter(spec.lon), slot: { store: 'geo', name: spec.name, member: '', lat: 0, lon: 0 } });
    }
  }

  /** The source read from Kafka topic `topic`, if any. */
  sourceOfTopic(topic: string): string | undefined {
    return this.topics.get(topic);
  }

  /** The Kafka topics to subscribe to (derived sources have none). */
  kafkaTopics(): string[] {
    return [...this.topics.keys()];
  }

  source(name: string): SourceSpec | undefined {
    return this.sources.get(name)?.spec;
  }

  /** Parses raw bytes (one JSON document) and routes it. */
  decode(source: string, raw: string | Uint8Array | null, arrival: number): RouteResult {
    return this.decodeAs(source, raw, arrival, false);
  }

  /** decode() into the objects of routeShared(): valid until the next shared call for the source. */
  decodeShared(source: string, raw: string | Uint8Array | null, arrival: number): RouteResult {
    return this.decodeAs(source, raw, arrival, true);
  }

  private decodeAs(source: string, raw: string | Uint8Array | null, arrival: number, shared: boolean): RouteResult {
    if (!this.sources.has(source)) return this.reject(source, 'unknown-source', `unknown source "${source}"`);
    if (raw === null) return this.reject(source, 'invalid-json', 'empty message (no value)');
    if (raw.length > MAX_EVENT_BYTES) return this.reject(source, 'too-large', `event of ${raw.length} bytes is larger than ${MAX_EVENT_BYTES}`);
    let event: unknown;
    try {
      const text = typeof raw === 'string' ? raw : Buffer.isBuffer(raw) ? raw.toString('utf8') : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('utf8');
      // A large message nested too deep is refused before JSON.parse spends time on it.
      if (text.length >= DEPTH_SCAN_MIN_CHARS && firstTooDeep(text, MAX_EVENT_DEPTH) >= 0) {
        return this.reject(source, 'too-deep', `the event nests objects or arrays more than ${MAX_EVENT_DEPTH} levels deep`);
      }
      event = JSON.parse(text);
    } catch (err) {
      return this.reject(source, 'invalid-json', `not valid JSON: ${(err as Error).message}`);
    }
    return this.routeAs(source, event, arrival, arrival, shared);
  }

  /**
   * Routes one event. `fallbackTs` is the event time when the source declares no timestamp
   * field (the Kafka timestamp, else arrival); `arrival` bounds how far ahead events may be.
   */
  route(source: string, event: unknown, arrival: number, fallbackTs: number = arrival): RouteResult {
    return this.routeAs(source, event, arrival, fallbackTs, false);
  }

  /**
   * Routes an event Tally made itself for a derived source (a fence crossing of
   * `<index>.fences`); route() and decode() refuse those sources to outside writers.
   */
  routeDerived(source: string, event: unknown, arrival: number): RouteResult {
    return this.routeAs(source, event, arrival, arrival, false, true);
  }

  /**
   * route() without allocating a result: the Routed returned (and its updates) belongs to
   * the router and is overwritten by the next routeShared() or decodeShared() of the same
   * source. For a caller that applies it at once and keeps nothing of it, as the event
   * processor does for the events it is given (not for events derived while applying one).
   * Refusals are fresh objects either way.
   */
  routeShared(source: string, event: unknown, arrival: number, fallbackTs: number = arrival): RouteResult {
    return this.routeAs(source, event, arrival, fallbackTs, true);
  }

  private routeAs(source: string, event: unknown, arrival: number, fallbackTs: number, shared: boolean, derived = false): RouteResult {
    const compiled = this.sources.get(source);
    if (compiled === undefined) return this.reject(source, 'unknown-source', `unknown source "${source}"`);
    if (compiled.spec.derivedFrom !== undefined && !derived) {
      return this.reject(source, 'source-internal', `source "${source}" is made by Tally itself (the fence crossings of geo index "${compiled.spec.derivedFrom.geo}"); it takes no outside events`);
    }
    if (event === null || typeof event !== 'object' || Array.isArray(event)) {
      return this.reject(source, 'not-an-object', `an event must be a JSON object, got ${show(event)}`);
    }
    if (nestedDeeperThan(event)) return this.reject(source, 'too-deep', `the event nests objects or arrays more than ${MAX_EVENT_DEPTH} levels deep`);
    const e = event as Record<string, unknown>;
    try {
      const ts = compiled.timestamp ? this.timestamp(compiled, e) : fallbackTs;
      if (ts > arrival + MAX_FUTURE_MS) {
        throw new Reject('future-timestamp', `timestamp ${formatTime(ts)} is more than ${MAX_FUTURE_MS / 60_000} minutes ahead of the clock`);
      }
      const out = shared ? (compiled.shared ??= { ok: true, source, ts, updates: [] }) : undefined;
      const updates: Update[] = out ? out.updates : [];
      let j = 0;
      const verdicts = compiled.verdicts;
      if (verdicts.length > 0) verdicts.fill(0);
      for (const f of compiled.features) {
        if (f.filter >= 0 && !this.passes(compiled, f.filter, e)) continue;
        const entity = f.entity(e);
        let value: EventValue = 1;
        if (f.spec.aggregation === 'topk') {
          value = key(f.field!, f.spec.field!, e, 'item');
          const weight = f.weight ? weightOf(f.weight, f.spec.weight!, e) : 1;
          if (out) {
            const u = f.slot;
            u.entity = entity;
            u.value = value;
            u.weight = weight;
            updates[j++] = u;
          } else updates.push({ store: 'feature', name: f.spec.name, entity, value, weight });
          continue;
        }
        if (f.field) {
          if (f.spec.aggregation === 'distinct') value = key(f.field, f.spec.field!, e, 'distinct');
          else if (f.spec.aggregation !== 'count') value = SUMMING.has(f.spec.aggregation) ? summed(f.field, f.spec.field!, e) : num(f.field, f.spec.field!, e);
        }
        if (out) {
          const u = f.slot;
          u.entity = entity;
          u.value = value;
          updates[j++] = u;
        } else updates.push({ store: 'feature', name: f.spec.name, entity, value });
      }
      for (const v of compiled.views) {
        if (v.filter >= 0 && !this.passes(compiled, v.filter, e)) continue;
        const entity = v.entity(e);
        const fields = viewFields(v, e);
        if (out) {
          const u = v.slot;
          u.entity = entity;
          u.fields = fields;
          updates[j++] = u;
        } else updates.push({ store: 'view', name: v.spec.name, entity, fields });
      }
      for (const l of compiled.leaderboards) {
        if (l.filter >= 0 && !this.passes(compiled, l.filter, e)) continue;
        const member = key(l.member, l.spec.member, e, 'member');
        const score = l.spec.mode === 'incr' ? summed(l.score, l.spec.score, e) : num(l.score, l.spec.score, e);
        if (out) {
          const u = l.slot;
          u.member = member;
          u.score = score;
          updates[j++] = u;
        } else updates.push({ store: 'leaderboard', name: l.spec.name, member, score });
      }
      for (const g of compiled.geo) {
        const lat = num(g.lat, g.spec.lat, e);
        const lon = num(g.lon, g.spec.lon, e);
        if (Math.abs(lat) > MAX_LAT) throw new Reject('invalid-value', `lat ${lat} is out of range [-${MAX_LAT}, ${MAX_LAT}]`);
        if (Math.abs(lon) > 180) throw new Reject('invalid-value', `lon ${lon} is out of range [-180, 180]`);
        const member = key(g.member, g.spec.member, e, 'member');
        if (out) {
          const u = g.slot;
          u.member = member;
          u.lat = lat;
          u.lon = lon;
          updates[j++] = u;
        } else updates.push({ store: 'geo', name: g.spec.name, member, lat, lon });
      }
      if (out) {
        // Unfiltered, every event fills the same slots: the length changes only with filters.
        if (updates.length !== j) updates.length = j;
        out.ts = ts;
        return out;
      }
      return { ok: true, source, ts, updates };
    } catch (err) {
      if (err instanceof Reject) return this.reject(source, err.reason, err.message);
      throw err;
    }
  }

  /** Filter `i` of the source on event `e`, evaluated once per event however many stores share it. */
  private passes(compiled: CompiledSource, i: number, e: Record<string, unknown>): boolean {
    const v = compiled.verdicts[i];
    if (v !== 0) return v === 1;
    const ok = compiled.filters[i](e);
    compiled.verdicts[i] = ok ? 1 : 2;
    return ok;
  }

  private timestamp(compiled: CompiledSource, e: Record<string, unknown>): number {
    const v = compiled.timestamp!(e);
    // The field's path is joined only for an error message (not on every event).
    if (v === undefined || v === null) throw new Reject('missing-field', `missing timestamp field "${compiled.spec.timestamp!.join('.')}"`);
    const ts = parseTime(v);
    if (!Number.isFinite(ts) || ts < 0 || ts > MAX_TIME_MS) {
      throw new Reject('invalid-timestamp', `timestamp field "${compiled.spec.timestamp!.join('.')}" must be epoch milliseconds (0 to ${MAX_TIME_MS}) or ISO-8601 text (UTC unless it names a zone), got ${show(v)}`);
    }
    // -0 + 0 is 0: one zero for windows and snapshots.
    return ts + 0;
  }

  private reject(source: string, reason: RejectReason, message: string): Rejected {
    return { ok: false, source, reason, message };
  }
}

function viewFields(v: CompiledView, e: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const { name, type, dims, metric } of v.fields) {
    const value = e[name];
    if (value === undefined) continue;
    if (type === 'vector') {
      if (value !== null) checkVector(v.spec.name, name, value, dims!, metric);
    } else if (value !== null && !fitsType(value, type)) {
      throw new Reject('wrong-type', `view "${v.spec.name}" field "${name}" must be ${type}, got ${show(value)}`);
    }
    out[name] = value;
  }
  return out;
}

/** A `vector(N)` value: a JSON array of exactly N finite numbers (not all zero for cosine). */
function checkVector(view: string, name: string, value: unknown, dims: number, metric: string | undefined): void {
  const what = `view "${view}" field "${name}" is vector(${dims})`;
  if (!Array.isArray(value)) throw new Reject('wrong-type', `${what}: an array of ${dims} numbers, got ${show(value)}`);
  if (value.length !== dims) throw new Reject('wrong-type', `${what}: an array of ${dims} numbers, got an array of ${value.length}`);
  let zero = true;
  for (let i = 0; i < dims; i++) {
    const x: unknown = value[i];
    if (typeof x !== 'number' || !Number.isFinite(x)) throw new Reject('wrong-type', `${what}: element ${i} is ${show(x)}, not a finite number`);
    if (x !== 0) zero = false;
  }
  if (zero && metric === 'cosine') throw new Reject('invalid-value', `${what} with metric cosine: a zero vector has no direction`);
}

function fitsType(value: unknown, type: Exclude<ViewFieldType, 'vector'>): boolean {
  switch (type) {
    case 'float':
      return typeof value === 'number' && Number.isFinite(value);
    case 'int':
      return typeof value === 'number' && Number.isSafeInteger(value);
    case 'string':
      return typeof value === 'string' && value.length <= 4096;
    case 'boolean':
      return typeof value === 'boolean';
    case 'float[]':
      return Array.isArray(value) && value.length <= 4096 && value.every((x) => typeof x === 'number' && Number.isFinite(x));
  }
}
