/**
 * ViewStore: feature vectors — the latest typed value of each declared field per entity —
 * for every view of the pipeline.
 *
 * Each entity holds one array: [updatedAt, value0, ts0, value1, ts1, ...] in the view's field
 * order. Every field keeps the event time of its value: an event upserts the fields it
 * carries, and a field is only overwritten by an event at least as new as the one that set it
 * (an older one is a stale update: counted, not applied). An entity not updated within the
 * view's TTL is gone for readers at once and freed by `sweep`. Types are checked by the
 * router before values arrive here.
 *
 * A `vector(N)` field keeps its vectors in a VectorIndex of its own (float32, with a
 * nearest-neighbour graph from some size on): the entity's slot holds the vector's number in
 * that index, and every write, update and removal (a null, the TTL's sweep) goes through to
 * it. `similar` searches it among the entities that are live and pass a `where:` condition
 * over the view's other fields.
 */

import { compileRecordFilter, type EventFilter } from '../../pipeline/filter.js';
import { InputError } from '../../input-error.js';
import { UnknownFeatureError } from '../feature-store.js';
import { formatDuration } from '../../pipeline/duration.js';
import { formatTime } from '../../pipeline/time.js';
import { SweepCursor, sweepShare } from '../sweep-pace.js';
import type { VectorMetric } from '../vectors/distance.js';
import { compareHits, type SimilarHit } from '../vectors/merge.js';
import { VectorIndex, type VectorIndexOptions } from '../vectors/vector-index.js';

export type ViewValue = number | string | boolean | number[] | null;

export interface ViewDefinition {
  name: string;
  /** For type `vector`: `dims` numbers, ranked by `metric` (default cosine). */
  fields: { name: string; type: string; dims?: number; metric?: VectorMetric }[];
  /** Entities not updated within this many ms disappear; undefined = kept. */
  ttlMs?: number;
  /** How far back as-of reads reach (the pipeline's `history:`); absent = no as-of reads. */
  historyMs?: number;
}

/**
 * The versions of one entity kept for as-of reads: every upsert as records (ts, field index,
 * value) in applied order, index -1 marking the upsert itself (it moves updatedAt even when no
 * field is applied). A read at T takes per field the record with the greatest ts <= T, the
 * later applied among equals -- what the entity held at T by event time.
 */
interface Versions {
  /** Newest event time of any record. */
  newest: number;
  records: ViewValue[];
  /** Record count that triggers the next compaction. */
  compactAt: number;
}

/** Slots per version record: ts, field index, value. */
const RECORD = 3;

export interface VectorRead {
  /** Field name -> value (null for a field never set). */
  values: Record<string, ViewValue>;
  /** Event time of the newest update. */
  updatedAt: number;
  /** Field name -> event time of the update that set its value (null for a field never set). */
  fieldTimes: Record<string, number | null>;
}

/** Slot of the entity's newest update time; fields follow as (value, ts) pairs. */
const UPDATED = 0;

/** Compiled `where:` conditions kept per view (the most recent ones). */
const MAX_CACHED_FILTERS = 64;

export interface SimilarQuery {
  /** A vector field of the view. */
  field: string;
  k: number;
  /** Exactly one of the two: a vector to search near, or an entity whose vector to use (it is left out of the answer). */
  vector?: readonly number[];
  entity?: string;
  /** A condition over the view's other fields (CEL, as the pipeline's `where:`). */
  where?: string;
}

/** An unknown view name; a kind of UnknownFeatureError, so transports treat both as bad input. */
export class UnknownViewError extends UnknownFeatureError {
  constructor(message: string) {
    super(message);
    this.name = 'UnknownViewError';
  }
}

export class View {
  readonly name: string;
  readonly fieldNames: string[];
  /** Declared type of each field, by index. */
  private readonly fieldTypes: string[];
  private readonly fieldIndex = new Map<string, number>();
  readonly ttlMs: number;
  private readonly entities = new Map<string, ViewValue[]>();
  private readonly sweeper = new SweepCursor(this.entities);
  /** Fields not applied because a newer value was already there. */
  staleUpdates = 0;
  /** How far back as-of reads reach; 0 without `history:`. */
  readonly historyMs: number;
  /** Versions per entity for as-of reads; undefined without history. */
  private readonly versions: Map<string, Versions> | undefined;
  private readonly versionSweeper: SweepCursor<Versions> | undefined;
  /** By field index: the vectors of a `vector` field, undefined for the others. */
  private readonly vectors: (VectorIndex | undefined)[];
  private readonly filters = new Map<string, EventFilter>();

  constructor(def: ViewDefinition, vectorOptions: VectorIndexOptions = {}) {
    this.name = def.name;
    this.fieldNames = def.fields.map((f) => f.name);
    this.fieldTypes = def.fields.map((f) => f.type);
    this.fieldNames.forEach((f, i) => this.fieldIndex.set(f, i));
    this.ttlMs = def.ttlMs ?? Number.POSITIVE_INFINITY;
    this.historyMs = def.historyMs ?? 0;
    if (this.historyMs > 0) {
      this.versions = new Map();
      this.versionSweeper = new SweepCursor(this.versions);
    }
    this.vectors = def.fields.map((f) => (f.type === 'vector' ? new VectorIndex(f.dims ?? 0, f.metric ?? 'cosine', vectorOptions) : undefined));
  }

  /** The vectors of the field at `index` when it is a `vector(N)` field. */
  vectorIndex(index: number): VectorIndex | undefined {
    return this.vectors[index];
  }

  get size(): number {
    return this.entities.size;
  }

  /** Entities the current sweep pass started with (the current count between passes). */
  get sweepSize(): number {
    return this.sweeper.size;
  }

  /** True when `entity` holds a vector, expired or not (an upsert of it allocates no new entity). */
  has(entity: string): boolean {
    return this.entities.has(entity);
  }

  /** The declared type of the field at `index` (`float`, `int`, `string`, `boolean`, `float[]`). */
  typeOf(index: number): string {
    return this.fieldTypes[index];
  }

  /** Index of `field` (for compiled read plans), or -1. */
  indexOf(field: string): number {
    return this.fieldIndex.get(field) ?? -1;
  }

  /** Upserts the given fields at event time `ts`; returns how many were stale (not applied). */
  upsert(entity: string, fields: Record<string, unknown>, ts: number): number {
    let slots = this.entities.get(entity);
    if (slots === undefined) {
      slots = new Array<ViewValue>(1 + 2 * this.fieldNames.length).fill(null);
      slots[UPDATED] = ts;
      for (let i = 0; i < this.fieldNames.length; i++) slots[2 + 2 * i] = Number.NEGATIVE_INFINITY;
      this.entities.set(entity, slots);
    }
    let stale = 0;
    for (const name in fields) {
      const i = this.fieldIndex.get(name);
      if (i === undefined) continue;
      const at = 1 + 2 * i;
      if (ts < (slots[at + 1] as number)) {
        stale++;
        continue;
      }
      const index = this.vectors[i];
      if (index === undefined) slots[at] = fields[name] as ViewValue;
      else slots[at] = this.storeVector(index, entity, slots[at] as number | null, fields[name] as number[] | null);
      slots[at + 1] = ts;
    }
    if (ts > (slots[UPDATED] as number)) slots[UPDATED] = ts;
    this.staleUpdates += stale;
    if (this.versions !== undefined) this.recordVersion(entity, fields, ts);
    return stale;
  }

  private recordVersion(entity: string, fields: Record<string, unknown>, ts: number): void {
    let v = this.versions!.get(entity);
    if (v === undefined) {
      v = { newest: ts, records: [], compactAt: 64 };
      this.versions!.set(entity, v);
    }
    if (ts > v.newest) v.newest = ts;
    v.records.push(ts, -1, null);
    for (const name in fields) {
      const i = this.fieldIndex.get(name);
      if (i !== undefined) v.records.push(ts, i, fields[name] as ViewValue);
    }
    if (v.records.length >= v.compactAt) {
      compactVersions(v, v.newest - this.historyMs, this.fieldNames.length);
      v.compactAt = Math.max(64, v.records.length * 2);
    }
  }

  /**
   * The vector of `entity` as a read at `at` would have given it from the updates with event
   * time <= `at` (null when none, or expired by the TTL at `at`). Throws InputError when the view
   * keeps no history or `at` is outside it (see checkAsOf).
   */
  readAt(entity: string, at: number, now: number): VectorRead | null {
    const state = this.stateAt(entity, at, now);
    if (state === undefined) return null;
    const values: Record<string, ViewValue> = {};
    const fieldTimes: Record<string, number | null> = {};
    for (let i = 0; i < this.fieldNames.length; i++) {
      values[this.fieldNames[i]] = state.values[i];
      fieldTimes[this.fieldNames[i]] = state.times[i];
    }
    return { values, updatedAt: state.updatedAt, fieldTimes };
  }

  /** readField as of `at` (see readAt). */
  readFieldAt(entity: string, index: number, at: number, now: number): { value: ViewValue; ts: number | null } {
    const state = this.stateAt(entity, at, now);
    if (state === undefined || state.times[index] === null) return { value: null, ts: null };
    return { value: state.values[index], ts: state.times[index] };
  }

  /** Throws InputError unless `at` is a moment this view can answer as of, at `now`. */
  checkAsOf(at: number, now: number): void {
    if (this.versions === undefined) throw new InputError(`view "${this.name}" keeps no history for at: reads; declare history: (e.g. history: 1d) on it in the pipeline`);
    if (at > now) throw new InputError(`at: ${formatTime(at)} is in the future (now is ${formatTime(now)})`);
    if (at < now - this.historyMs) throw new InputError(`at: ${formatTime(at)} is older than view "${this.name}" keeps (history: ${formatDuration(this.historyMs)}); the oldest time available is ${formatTime(now - this.historyMs)}`);
  }

  private stateAt(entity: string, at: number, now: number): { values: ViewValue[]; times: (number | null)[]; updatedAt: number } | undefined {
    this.checkAsOf(at, now);
    const v = this.versions!.get(entity);
    if (v === undefined) return undefined;
    const n = this.fieldNames.length;
    const values = new Array<ViewValue>(n).fill(null);
    const times = new Array<number | null>(n).fill(null);
    let updatedAt: number | undefined;
    const r = v.records;
    for (let k = 0; k < r.length; k += RECORD) {
      const ts = r[k] as number;
      if (ts > at) continue;
      const i = r[k + 1] as number;
      if (i < 0) {
        if (updatedAt === undefined || ts > updatedAt) updatedAt = ts;
      } else if (times[i] === null || ts >= times[i]!) {
        values[i] = r[k + 2];
        times[i] = ts;
      }
    }
    if (updatedAt === undefined || at - updatedAt > this.ttlMs) return undefined;
    return { values, times, updatedAt };
  }

  /** Every entity's version records (ts, field index or -1, value)*, for snapshots. Live arrays: do not change. */
  *versionEntries(): IterableIterator<[string, readonly ViewValue[]]> {
    if (this.versions === undefined) return;
    for (const [key, v] of this.versions) yield [key, v.records];
  }

  /** Puts back one entity's version records as versionEntries() gave them. Precondition: the view keeps history. */
  loadVersions(entity: string, records: ViewValue[]): void {
    let newest = Number.NEGATIVE_INFINITY;
    for (let k = 0; k < records.length; k += RECORD) newest = Math.max(newest, records[k] as number);
    this.versions!.set(entity, { newest, records, compactAt: Math.max(64, records.length * 2) });
  }

  /** The vector of `entity` as of `now`, or null when unknown or expired. */
  read(entity: string, now: number): VectorRead | null {
    const slots = this.live(entity, now);
    if (slots === undefined) return null;
    const values: Record<string, ViewValue> = {};
    const fieldTimes: Record<string, number | null> = {};
    for (let i = 0; i < this.fieldNames.length; i++) {
      const name = this.fieldNames[i];
      const ts = slots[2 + 2 * i] as number;
      values[name] = this.valueAt(slots, i);
      fieldTimes[name] = ts === Number.NEGATIVE_INFINITY ? null : ts;
    }
    return { values, updatedAt: slots[UPDATED] as number, fieldTimes };
  }

  /**
   * The last moment the vector of `entity` is readable (its newest update plus the TTL): read()
   * at any later `now` gives null. Undefined when the entity is unknown or the view has no TTL.
   */
  expiresAt(entity: string): number | undefined {
    const slots = this.entities.get(entity);
    if (slots === undefined || !Number.isFinite(this.ttlMs)) return undefined;
    return (slots[UPDATED] as number) + this.ttlMs;
  }

  /** One field by index: its value and the event time that set it (nulls when unset). */
  readField(entity: string, index: number, now: number): { value: ViewValue; ts: number | null } {
    const slots = this.live(entity, now);
    if (slots === undefined) return { value: null, ts: null };
    const ts = slots[2 + 2 * index] as number;
    return ts === Number.NEGATIVE_INFINITY ? { value: null, ts: null } : { value: this.valueAt(slots, index), ts };
  }

  /**
   * The vector of a live entity in `field` (a copy), what `similar` by entity searches near;
   * undefined when the entity is not live or has none. Throws InputError for a field that is not a vector field.
   */
  vectorOf(field: string, entity: string, now: number): number[] | undefined {
    const index = this.vectorField(field);
    const slot = this.live(entity, now)?.[1 + 2 * this.fieldIndex.get(field)!];
    return typeof slot === 'number' ? Array.from(index.view(slot)) : undefined;
  }

  /**
   * The `k` entities whose vectors in `field` are nearest the query, nearest first, among the
   * live entities that pass `where`. Throws InputError for a query that names no vector field,
   * a vector of the wrong length, or a `where` that is not a condition over the other fields.
   */
  similar(query: SimilarQuery, now: number): SimilarHit[] {
    const index = this.vectorField(query.field);
    const i = this.fieldIndex.get(query.field);
    if (!Number.isInteger(query.k) || query.k < 1) throw new InputError(`k must be a positive integer, got ${query.k}`);
    if ((query.vector === undefined) === (query.entity === undefined)) throw new InputError('similar takes exactly one of vector and entity');
    let q: ArrayLike<number>;
    let self = -1;
    if (query.entity !== undefined) {
      const slots = this.live(query.entity, now);
      const slot = slots?.[1 + 2 * i!];
      if (typeof slot !== 'number') return [];
      self = slot;
      q = index.view(slot);
    } else {
      q = query.vector!;
      if (q.length !== index.dims) throw new InputError(`vector has ${q.length} numbers; field "${query.field}" of view "${this.name}" is vector(${index.dims})`);
      for (let j = 0; j < q.length; j++) {
        if (typeof q[j] !== 'number' || !Number.isFinite(q[j])) throw new InputError(`vector[${j}] is ${String(q[j])}, not a finite number`);
      }
      if (index.metric === 'cosine' && Array.prototype.every.call(q, (x: number) => x === 0)) throw new InputError('a zero vector has no direction: metric cosine cannot rank by it');
    }
    const filter = query.where === undefined || query.where.trim() === '' ? undefined : this.filter(query.where, i!);
    const accept = (slot: number): boolean => {
      if (slot === self) return false;
      const slots = this.live(index.entity(slot)!, now);
      if (slots === undefined) return false;
      return filter === undefined || filter(this.record(slots, i!));
    };
    return index.search(q, query.k, accept).map((h) => ({ entity: h.entity, distance: h.distance })).sort(compareHits);
  }

  /** The index of a vector field; InputError naming the vector fields for any other name. */
  private vectorField(field: string): VectorIndex {
    const i = this.fieldIndex.get(field);
    const index = i === undefined ? undefined : this.vectors[i];
    if (index === undefined) {
      const vectorFields = this.fieldNames.filter((_, j) => this.vectors[j] !== undefined);
      throw new InputError(`view "${this.name}" has no vector field "${field}" (vector fields: ${vectorFields.join(', ') || 'none'})`);
    }
    return index;
  }

  /**
   * Frees expired entities, examining at most `budget` from where the last call stopped; with
   * history, also the versions no as-of read can reach any more (newest older than the TTL
   * before now - historyMs).
   */
  sweep(now: number, budget: number): number {
    if (!Number.isFinite(this.ttlMs)) return 0;
    if (this.versionSweeper !== undefined) this.versionSweeper.sweep(budget, (v) => now - this.historyMs - v.newest > this.ttlMs);
    return this.sweeper.sweep(budget, (slots) => {
      if (now - (slots[UPDATED] as number) <= this.ttlMs) return false;
      this.dropVectors(slots);
      return true;
    });
  }

  /**
   * Every entity with its slots [updatedAt, value0, ts0, value1, ts1, ...] in fieldNames
   * order (ts = -Infinity for a field never set), for snapshots. Live arrays: do not change.
   */
  entries(): IterableIterator<[string, readonly ViewValue[]]> {
    return this.entities.entries();
  }

  /**
   * Puts back one entity in the layout of entries(), except that a vector field holds its
   * numbers (of the declared length, else null is kept); the array is owned by the view from now on.
   */
  load(entity: string, slots: ViewValue[]): void {
    if (slots.length !== 1 + 2 * this.fieldNames.length) throw new RangeError(`view "${this.name}" expects ${1 + 2 * this.fieldNames.length} slots, got ${slots.length}`);
    const old = this.entities.get(entity);
    if (old !== undefined) this.dropVectors(old);
    for (let i = 0; i < this.vectors.length; i++) {
      const index = this.vectors[i];
      if (index === undefined) continue;
      const v = slots[1 + 2 * i];
      slots[1 + 2 * i] = Array.isArray(v) && v.length === index.dims ? index.add(entity, v) : null;
    }
    this.entities.set(entity, slots);
  }

  /** Before loading a snapshot: vector inserts skip the graph until finishLoad(). */
  beginLoad(): void {
    for (const index of this.vectors) index?.deferGraph();
  }

  /** After loading a snapshot: builds the vector fields' graphs (yielding); resolves with the ms it took. */
  async finishLoad(): Promise<number> {
    let ms = 0;
    for (const index of this.vectors) if (index !== undefined) ms += await index.catchUp();
    return ms;
  }

  /**
   * Takes over every entity of `other` (the same view, another store: a partition's state
   * handed over), with its versions; vectors are copied into this view's index.
   */
  absorb(other: View): number {
    let n = 0;
    for (const [entity, slots] of other.entities) {
      const copy = slots.slice();
      for (let i = 0; i < this.vectors.length; i++) if (this.vectors[i] !== undefined) copy[1 + 2 * i] = other.valueAt(slots, i);
      this.load(entity, copy);
      n++;
    }
    if (this.versions !== undefined && other.versions !== undefined) for (const [entity, v] of other.versions) this.loadVersions(entity, v.records.slice());
    return n;
  }

  /** Drops the entities `drop` selects, with their versions and vectors; returns the number dropped. */
  dropWhere(drop: (entity: string) => boolean): number {
    let n = 0;
    for (const [entity, slots] of this.entities) {
      if (!drop(entity)) continue;
      this.dropVectors(slots);
      this.entities.delete(entity);
      n++;
    }
    if (this.versions !== undefined) for (const entity of this.versions.keys()) if (drop(entity)) this.versions.delete(entity);
    return n;
  }

  /** Drops every entity. */
  clear(): void {
    this.entities.clear();
    this.sweeper.reset();
    this.versions?.clear();
    this.versionSweeper?.reset();
    for (const index of this.vectors) index?.clear();
  }

  /** The value of field `i` in `slots` as readers see it (a vector as its numbers). */
  private valueAt(slots: readonly ViewValue[], i: number): ViewValue {
    const v = slots[1 + 2 * i];
    const index = this.vectors[i];
    return index === undefined || v === null ? v : index.vector(v as number);
  }

  /** Writes a vector field: `slot` is its current slot (null: none); returns the new one. */
  private storeVector(index: VectorIndex, entity: string, slot: number | null, value: readonly number[] | null): number | null {
    if (value === null) {
      if (slot !== null) index.remove(slot);
      return null;
    }
    if (slot === null) return index.add(entity, value);
    index.replace(slot, value);
    return slot;
  }

  private dropVectors(slots: ViewValue[]): void {
    for (let i = 0; i < this.vectors.length; i++) {
      const v = slots[1 + 2 * i];
      if (this.vectors[i] !== undefined && typeof v === 'number') this.vectors[i]!.remove(v);
    }
  }

  /** The fields other than `skip` (and other vectors) of an entity, as a `where:` condition reads them. */
  private record(slots: readonly ViewValue[], skip: number): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (let i = 0; i < this.fieldNames.length; i++) if (i !== skip && this.vectors[i] === undefined) out[this.fieldNames[i]] = slots[1 + 2 * i];
    return out;
  }

  private filter(where: string, skip: number): EventFilter {
    const cached = this.filters.get(where);
    if (cached !== undefined) return cached;
    const fields = this.fieldNames.filter((_, i) => i !== skip && this.vectors[i] === undefined);
    const compiled = compileRecordFilter(where, fields);
    if ('problem' in compiled) throw new InputError(`where ${JSON.stringify(where)} is not a condition over the fields of view "${this.name}" (${fields.join(', ')}): ${compiled.problem}`);
    if (this.filters.size >= MAX_CACHED_FILTERS) this.filters.delete(this.filters.keys().next().value!);
    this.filters.set(where, compiled.filter);
    return compiled.filter;
  }

  private live(entity: string, now: number): ViewValue[] | undefined {
    const slots = this.entities.get(entity);
    if (slots === undefined || now - (slots[UPDATED] as number) > this.ttlMs) return undefined;
    return slots;
  }
}

/**
 * Drops the records no read at or after `cutoff` needs: per field (and for the upsert marker)
 * the records with ts < cutoff but the winner among them (greatest ts, the later applied among
 * equals). The rest keep their applied order, so ties resolve as before.
 */
function compactVersions(v: Versions, cutoff: number, fields: number): void {
  const r = v.records;
  // Per field index (+1: the marker is -1), the position of the winner before the cutoff.
  const base = new Array<number>(fields + 1).fill(-1);
  for (let k = 0; k < r.length; k += RECORD) {
    const ts = r[k] as number;
    if (ts >= cutoff) continue;
    const slot = (r[k + 1] as number) + 1;
    if (base[slot] < 0 || ts >= (r[base[slot]] as number)) base[slot] = k;
  }
  const kept: ViewValue[] = [];
  for (let k = 0; k < r.length; k += RECORD) {
    if ((r[k] as number) >= cutoff || base[(r[k + 1] as number) + 1] === k) kept.push(r[k], r[k + 1], r[k + 2]);
  }
  v.records = kept;
}

export class ViewStore {
  private readonly views = new Map<string, View>();

  constructor(definitions: ViewDefinition[], vectorOptions: VectorIndexOptions = {}) {
    for (const d of definitions) this.views.set(d.name, new View(d, vectorOptions));
  }

  has(name: string): boolean {
    return this.views.has(name);
  }

  /** The view `name`; throws UnknownViewError naming it. */
  view(name: string): View {
    const v = this.views.get(name);
    if (v === undefined) throw new UnknownViewError(`unknown view "${name}"${this.views.size ? ` (views: ${[...this.views.keys()].join(', ')})` : ''}`);
    return v;
  }

  names(): string[] {
    return [...this.views.keys()];
  }

  upsert(name: string, entity: string, fields: Record<string, unknown>, ts: number): number {
    return this.view(name).upsert(entity, fields, ts);
  }

  /** The vector of `entity` now, or with `at` as a read at that moment would have given it (View.readAt). */
  read(name: string, entity: string, now: number, at?: number): VectorRead | null {
    return at === undefined ? this.view(name).read(entity, now) : this.view(name).readAt(entity, at, now);
  }

  /** View.similar of the view `name`. */
  similar(name: string, query: SimilarQuery, now: number): SimilarHit[] {
    return this.view(name).similar(query, now);
  }

  /** As FeatureStore.sweep, with each view's TTL as its retention. */
  sweep(now: number, budget: number, intervalMs?: number): number {
    let freed = 0;
    for (const v of this.views.values()) freed += v.sweep(now, intervalMs === undefined ? budget : sweepShare(v.sweepSize, v.ttlMs, intervalMs, budget));
    return freed;
  }

  /** View.absorb of each view of `other` (a store of the same pipeline); returns the entities taken. */
  absorb(other: ViewStore): number {
    let n = 0;
    for (const name of other.names()) if (this.has(name)) n += this.view(name).absorb(other.view(name));
    return n;
  }

  /** View.dropWhere on every view; returns the total dropped. */
  dropWhere(drop: (entity: string) => boolean): number {
    let n = 0;
    for (const v of this.views.values()) n += v.dropWhere(drop);
    return n;
  }

  sizes(): { name: string; entities: number }[] {
    return [...this.views.values()].map((v) => ({ name: v.name, entities: v.size }));
  }
}
