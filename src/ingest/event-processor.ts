/**
 * EventProcessor: the one path every event takes, from Kafka or HTTP: route (router.ts) ->
 * lateness check (watermarks.ts) -> apply the updates to the stores -> publish the changes ->
 * count. Refusals are counted per source and reason and logged at a bounded rate; the
 * caller decides what else to do with them (the Kafka path writes them to the DLQ).
 */
import { dropEntities, type StoreSet } from '../store-set.js';
import type { Logger } from '../ops/logger.js';
import { RateLimitedLog } from '../ops/logger.js';
import type { MemoryGuard } from '../ops/memory-guard.js';
import type { Metrics } from '../ops/metrics.js';
import { FEATURE_BEFORE, featureBeforeTopic, featureTopic, fenceTopic, geoTopic, leaderboardTopic, viewTopic, type Change, type ChangeFeed } from '../changes/change-feed.js';
import type { FenceEvent, GeoPoint } from '../geo/index.js';
import { fenceSourceName } from '../pipeline/pipeline.js';
import { formatTime, isRepresentableTime } from '../pipeline/time.js';
import { MAX_FUTURE_MS, type Rejected, type RouteResult, type Router, type Routed } from './router.js';
import type { Refusal } from './json-body.js';
import { Watermarks } from './watermarks.js';
import { parseRepartitionRecord, RepartitionDedup, type Repartitioner } from './repartition.js';

/** The stores events are applied to. */
export type Stores = StoreSet;

export interface IngestError {
  index: number;
  message: string;
}

export interface IngestOutcome {
  accepted: number;
  rejected: number;
  /** The first MAX_REPORTED_ERRORS refusals, by index in the request. */
  errors: IngestError[];
}

/** Errors listed in one ingest answer; the counts stay exact beyond it. */
export const MAX_REPORTED_ERRORS = 100;

/** Partition number used for events that do not come from Kafka. */
export const NO_PARTITION = -1;

/** The `source` label of events refused as unknown-source, whatever name they gave. */
export const UNKNOWN_SOURCE_LABEL = '(unknown)';

export class EventProcessor {
  private readonly rateLimited: RateLimitedLog;
  readonly watermarks = new Watermarks();
  /** In a cluster: sends the updates of stores not keyed by the message key to their entity's owner (repartition.ts). */
  repartitioner: Repartitioner | undefined;
  /** Per repartition partition, the newest origin applied (part of the partition's state). */
  readonly dedup = new RepartitionDedup();
  private readonly acceptedBySource = new Map<string, { n: number }>();

  constructor(
    private readonly router: Router,
    private readonly stores: Stores,
    private readonly changes: ChangeFeed<Change>,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    private readonly clock: () => number = Date.now,
    /** The memory budget: when full, events that would create an entity are refused. */
    private readonly memory?: MemoryGuard,
  ) {
    this.rateLimited = new RateLimitedLog(this.log);
  }

  /**
   * Applies already-decoded events of one source (HTTP and GraphQL ingest). `arrival` is
   * the call's arrival time; replay of the ingest log passes the recorded one.
   */
  ingest(source: string, events: unknown[], arrival: number = this.clock()): IngestOutcome {
    const outcome: IngestOutcome = { accepted: 0, rejected: 0, errors: [] };
    this.ingestRange(source, events, 0, events.length, arrival, outcome);
    return outcome;
  }

  /**
   * Applies `events[from, to)` of one call, in order, adding to `outcome` (error indexes are
   * positions in `events`; `refused` holds events refused while the body was read, counted
   * and reported like the router's refusals). A caller may apply a large call in several ranges, yielding the
   * event loop in between; the result equals one ingest() of the whole call.
   */
  ingestRange(source: string, events: unknown[], from: number, to: number, arrival: number, outcome: IngestOutcome, refused?: ReadonlyMap<number, Refusal>): void {
    for (let i = from; i < to; i++) {
      // Shared routing: the result is applied here and nothing of it is kept (events derived
      // while applying, fence crossings, are routed with fresh objects). Each event is accepted
      // or refused by itself: whatever goes wrong with one never reaches the others.
      let result: RouteResult;
      // A line that is not JSON is refused as such; one nested too deep as the router would
      // (after an unknown source).
      const early = refused?.get(i);
      try {
        result =
          early !== undefined && (early.reason !== 'too-deep' || this.router.source(source) !== undefined)
            ? this.refuse({ ok: false, source, ...early })
            : this.process(this.router.routeShared(source, events[i], arrival), NO_PARTITION);
      } catch (err) {
        result = this.failed(source, err);
      }
      if (result.ok) outcome.accepted++;
      else {
        outcome.rejected++;
        if (outcome.errors.length < MAX_REPORTED_ERRORS) outcome.errors.push({ index: i, message: `${result.reason}: ${result.message}` });
      }
    }
  }

  /**
   * Decodes and applies one raw Kafka message; returns the refusal, if any, for the DLQ (an
   * accepted result is the router's shared one: read `ok` at once, keep nothing of it).
   * `kafkaTs` (the message's timestamp, as kafkajs gives it) is read only when the source
   * declares no timestamp field.
   */
  ingestRaw(source: string, raw: Buffer | null, partition: number, kafkaTs: number | string, topic?: string, offset?: string): RouteResult {
    this.repartitioner?.at(topic, partition, offset);
    try {
      const arrival = this.clock();
      const decoded = this.router.decodeShared(source, raw, arrival);
      if (!decoded.ok) return this.process(decoded, partition);
      if (this.router.source(source)?.timestamp) return this.process(decoded, partition);
      // Without a timestamp field, the Kafka timestamp is the event time (arrival when the
      // producer set none, or one no Date can hold).
      const ts = Number(kafkaTs);
      if (ts > arrival + MAX_FUTURE_MS && isRepresentableTime(ts)) {
        return this.refuse({ ok: false, source, reason: 'future-timestamp', message: `Kafka timestamp ${formatTime(ts)} is more than ${MAX_FUTURE_MS / 60_000} minutes ahead of the clock` });
      }
      return this.process({ ...decoded, ts: ts >= 0 && isRepresentableTime(ts) ? ts : arrival }, partition);
    } catch (err) {
      return this.failed(source, err);
    }
  }

  /**
   * Applies one record of the repartition topic's partition `partition` (an update another
   * member routed here, see repartition.ts), unless its origin was applied already. Returns
   * false for a duplicate; throws for a record that is not one.
   */
  applyRepartitioned(raw: Buffer | null, topic: string, partition: number, offset: string): boolean {
    const r = parseRepartitionRecord(raw);
    if (!this.dedup.accept(partition, r.o)) return false;
    // Updates derived here (fence crossings of a repartitioned geo update) have this record as their origin.
    this.repartitioner?.at(topic, partition, offset);
    this.apply({ ok: true, source: r.src, ts: r.ts, updates: [r.u] }, NO_PARTITION, false);
    return true;
  }

  /** The stores events are applied to (a partition's state is read from and loaded into them at a handover). */
  state(): StoreSet {
    return this.stores;
  }

  /**
   * Forgets what the events of Kafka partitions `partitions` built (this instance handed them
   * over): the entities whose key `partitionOf` places in one of them, in every store, and the
   * partitions' watermarks. Returns the entries dropped.
   */
  dropPartitions(partitions: ReadonlySet<number>, partitionOf: (key: string) => number): number {
    this.watermarks.forget(partitions);
    this.dedup.forget(partitions);
    return dropEntities(this.stores, (key) => partitions.has(partitionOf(key)));
  }

  /** An event whose routing or applying threw (a defect, not the event's fault): refused alone as internal-error, logged with its stack. */
  private failed(source: string, err: unknown): Rejected {
    this.metrics.internalErrors.inc({ where: 'ingest' });
    this.log.error({ source, error: err instanceof Error ? (err.stack ?? err.message) : String(err) }, 'event could not be processed');
    return this.refuse({ ok: false, source, reason: 'internal-error', message: 'Tally could not process this event (an internal error, logged); the other events are not affected' });
  }

  private process(result: RouteResult, partition: number): RouteResult {
    if (!result.ok) return this.refuse(result);
    if (this.memory?.full() && this.createsEntity(result)) {
      return this.refuse({ ok: false, source: result.source, reason: 'memory-budget', message: `the memory budget (${this.memory.budget} bytes) is reached: events of new entities are refused` });
    }
    const spec = this.router.source(result.source)!;
    if (!this.watermarks.admit(result.source, partition, result.ts, spec.latenessMs)) {
      const wm = this.watermarks.get(result.source, partition)!;
      return this.refuse({
        ok: false,
        source: result.source,
        reason: 'late',
        message: `event time ${formatTime(result.ts)} is older than the watermark ${formatTime(wm)} minus the allowed lateness of ${spec.latenessMs} ms`,
      });
    }
    try {
      this.apply(result, partition);
    } catch (err) {
      // A store refusing what the router let through is a bug; it must not stall ingest
      // (a Kafka batch that throws is retried forever), so the event is refused and reported.
      this.log.error({ source: result.source, error: err instanceof Error ? err.message : String(err) }, 'store failed to apply an event');
      return this.refuse({ ok: false, source: result.source, reason: 'internal-error', message: `could not apply the event: ${err instanceof Error ? err.message : String(err)}` });
    }
    this.accepted(result.source).n++;
    return result;
  }

  /** The accepted-events count of `source` (see Metrics.acceptedCount), looked up once per source. */
  private accepted(source: string): { n: number } {
    let c = this.acceptedBySource.get(source);
    if (c === undefined) {
      c = this.metrics.acceptedCount(source);
      this.acceptedBySource.set(source, c);
    }
    return c;
  }

  /** True when applying `routed` would add an entity (or member) to a store. Only asked when memory is full. */
  private createsEntity(routed: Routed): boolean {
    for (const u of routed.updates) {
      switch (u.store) {
        case 'feature':
          if (!this.stores.features.feature(u.name).has(u.entity)) return true;
          break;
        case 'view':
          if (!this.stores.views.view(u.name).has(u.entity)) return true;
          break;
        case 'leaderboard':
          if (this.stores.leaderboards.require(u.name).rank(u.member, formatTime(routed.ts), routed.ts) === null) return true;
          break;
        case 'geo':
          if (this.stores.geo.collection(u.name).position(u.member) === undefined) return true;
          break;
      }
    }
    return false;
  }

  /** `send`: updates of repartitioned stores go to their entity's owner (false: applied here, they came from there). */
  private apply(routed: Routed, partition: number, send = true): void {
    const { ts } = routed;
    const changes = this.changes;
    const repartitioner = send ? this.repartitioner : undefined;
    for (const u of routed.updates) {
      if (repartitioner?.take(u, routed.source, ts)) continue;
      switch (u.store) {
        case 'feature': {
          // Topics and changes are built only when someone listens to this feature. Threshold
          // watches also look at the entity just before the event (featureBeforeTopic).
          const listened = changes.listening('feature', u.name);
          if (listened && changes.listening(FEATURE_BEFORE, u.name)) changes.publish(featureBeforeTopic(u.name), { kind: 'feature', name: u.name, entity: u.entity, ts });
          this.stores.features.update(u.name, u.entity, u.value, ts, u.weight);
          if (listened) {
            changes.publish(featureTopic(u.name, u.entity), { kind: 'feature', name: u.name, entity: u.entity, ts });
            changes.publish(featureTopic(u.name), { kind: 'feature', name: u.name, entity: u.entity, ts });
          }
          break;
        }
        case 'view': {
          const stale = this.stores.views.upsert(u.name, u.entity, u.fields, ts);
          if (stale > 0) this.metrics.viewStaleUpdates.inc({ view: u.name }, stale);
          if (changes.listening('view', u.name)) changes.publish(viewTopic(u.name, u.entity), { kind: 'view', name: u.name, entity: u.entity, ts });
          break;
        }
        case 'leaderboard':
          if (this.stores.leaderboards.update(u.name, u.member, u.score, ts)) {
            if (changes.listening('leaderboard', u.name)) changes.publish(leaderboardTopic(u.name), { kind: 'leaderboard', name: u.name, member: u.member, ts });
          } else this.metrics.leaderboardLate.inc({ leaderboard: u.name });
          break;
        case 'geo': {
          const collection = this.stores.geo.collection(u.name);
          const events = collection.set(u.member, u.lat, u.lon, ts);
          if (changes.listening('geo', u.name)) {
            // The stored (fixed-point) position; a stale update (older than the member's last report) changed nothing.
            const p = collection.position(u.member);
            if (p !== undefined && p.lastSeen === ts) changes.publish(geoTopic(u.name), { kind: 'geo', name: u.name, member: u.member, ts, lat: p.lat, lon: p.lon, reportedAt: ts, gone: false });
          }
          if (events.length > 0) this.applyFenceEvents(u.name, events, partition);
          break;
        }
      }
    }
  }

  /**
   * Publishes fence crossings and feeds them, as events of the derived source
   * `<index>.fences`, to whatever the pipeline declares on it (e.g. entries per fence).
   * They count against the watermark of the partition whose position update caused them,
   * so their lateness follows that partition's order — the same on a replay — and not the
   * interleaving of partitions; TTL exits (no partition) use NO_PARTITION.
   */
  applyFenceEvents(index: string, events: readonly FenceEvent[], partition: number = NO_PARTITION): void {
    const source = fenceSourceName(index);
    const arrival = this.clock();
    for (const e of events) {
      this.changes.publish(fenceTopic(index), { kind: 'fence', index, fence: e.fence, member: e.member, enter: e.kind === 'enter', lat: e.lat, lon: e.lon, ts: e.ts });
      this.process(this.router.routeDerived(source, { fence: e.fence, member: e.member, kind: e.kind, lat: e.lat, lon: e.lon, ts: e.ts }, Math.max(arrival, e.ts)), partition);
    }
  }

  /** Applies time-driven changes: leaderboard member TTL and periods, geo member TTL (fence exits). */
  expire(now: number): void {
    this.repartitioner?.at(undefined, NO_PARTITION, undefined);
    for (const board of this.stores.leaderboards) {
      if (board.expire(now) > 0) this.changes.publish(leaderboardTopic(board.name), { kind: 'leaderboard', name: board.name, member: '', ts: now });
    }
    const changes = this.changes;
    const expired = (index: string, p: GeoPoint, at: number): void => {
      if (changes.listening('geo', index)) changes.publish(geoTopic(index), { kind: 'geo', name: index, member: p.member, ts: at, lat: p.lat, lon: p.lon, reportedAt: p.lastSeen, gone: true });
    };
    for (const { index, events } of this.stores.geo.expire(now, expired)) this.applyFenceEvents(index, events);
    // Their repartitioned updates (entries per fence of TTL exits) leave now, not with the next batch.
    this.repartitioner?.sendTimed().catch((err: unknown) => this.log.warn({ error: String(err) }, 'could not send the repartitioned updates of expired members'));
  }

  private refuse(r: Rejected): Rejected {
    // An unknown source name comes from the request (POST /ingest/<anything>): one label for
    // all of them, or each new name would add a metric series (and a log key) for good.
    const source = r.reason === 'unknown-source' || this.router.source(r.source) === undefined ? UNKNOWN_SOURCE_LABEL : r.source;
    this.metrics.eventsRejected.inc({ source, reason: r.reason });
    this.rateLimited.warn(`${source}:${r.reason}`, this.clock(), { source: r.source, reason: r.reason, error: r.message }, 'event refused');
    return r;
  }
}
