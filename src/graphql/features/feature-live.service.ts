/**
 * Live feature values for subscriptions: listens to the change feed and feeds one
 * CoalescingQueue per subscription, computing values from the store only when a client
 * pulls them.
 *
 * Subscriptions of the same (feature, entity, window) share one LiveValue: one change-feed
 * listener, one timer for the times tiles leave the window (armed only while the window holds
 * something), and one value object per change, computed by the first subscriber that pulls it
 * and handed to the others as is (so sharedSubscribe executes it once per document).
 * A threshold subscription owns one ThresholdWatch and one such timer.
 */
import { Inject, Injectable } from '@nestjs/common';
import { FeatureStore, ThresholdWatch, type Crossing, type Threshold } from '../../features/index.js';
import { featureBeforeTopic, featureTopic, type Change, type ChangeFeed } from '../../changes/change-feed.js';
import { CHANGES, CLOCK } from '../../settings/tokens.js';
import { CoalescingQueue } from '../live/coalescing-queue.js';
import { toFeatureValueModel, type FeatureValue } from './models/feature-value.model.js';
import { toThresholdCrossingModel, type ThresholdCrossing } from './models/threshold-crossing.model.js';

/** Same window value: both null, or the same number. */
const sameValue = (a: number | null, b: number | null): boolean => a === b || (Number.isNaN(a) && Number.isNaN(b));

/** Same answer: the same value and, for topk, the same list and bound (a lighter item may leave while the heaviest stays). */
function sameAnswer(a: FeatureValue, b: FeatureValue | undefined): boolean {
  if (!sameValue(a.value, b?.value ?? null)) return false;
  if (a.top === null || b === undefined || b.top === null) return a.top === (b?.top ?? null);
  if (a.unlistedAtMost !== b.unlistedAtMost || a.top.length !== b.top.length) return false;
  return a.top.every((x, i) => x.item === b.top![i].item && x.count === b.top![i].count && x.error === b.top![i].error);
}

/** Longest delay setTimeout takes (2^31 - 1 ms, about 24.8 days); a longer one fires at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Calls `tick(now)` at each time `nextAt(now)` gives (the times a tile leaves a window), until
 * stopped or until `tick` returns false; start() re-arms it. Never fires before the time it
 * was armed for by the injected clock: a timer that fires early (Node's may, by a millisecond)
 * or was clamped to the longest delay Node takes is re-armed for the rest.
 */
class ExpiryTimer {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly clock: () => number,
    private readonly nextAt: (now: number) => number,
    private readonly tick: (now: number) => boolean,
  ) {}

  /** Arms the timer for the next expiry after now, unless it is armed already. */
  start(): void {
    if (this.timer === undefined) this.arm(this.nextAt(this.clock()));
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(due: number): void {
    if (!Number.isFinite(due)) return; // a lifetime window never drains
    this.timer = setTimeout(() => this.fire(due), Math.min(MAX_TIMER_MS, Math.max(0, due - this.clock())));
    this.timer.unref();
  }

  private fire(due: number): void {
    this.timer = undefined;
    const now = this.clock();
    if (now < due) this.arm(due);
    else if (this.tick(now)) this.arm(this.nextAt(now));
  }
}

/**
 * The subscribers of one (feature, entity, window) and its value as of the latest change: an
 * event (changed()), or tiles leaving the window (its ExpiryTimer, armed while the window
 * holds something).
 */
class LiveValue {
  readonly queues = new Set<CoalescingQueue<FeatureValue>>();
  unsubscribe = (): void => {};
  private version = 0;
  private computed = -1;
  private value: FeatureValue | undefined;
  private readonly decay: ExpiryTimer;

  /**
   * @param read the window's value now
   * @param drained true for the value of a window holding nothing (null, or 0 for a count):
   *   it stays so until an event, so the timer stops
   */
  constructor(
    private readonly entity: string,
    private readonly read: () => FeatureValue,
    private readonly drained: (value: number | null) => boolean,
    clock: () => number,
    nextExpiryAt: (now: number) => number,
    first: FeatureValue,
  ) {
    this.decay = new ExpiryTimer(clock, nextExpiryAt, () => this.expired());
    // The value at subscription is what a tile leaving is compared with (it is not pushed).
    this.value = first;
    this.computed = this.version;
    if (!drained(first.value)) this.decay.start();
  }

  /** The value for the latest change, computed once whoever asks first. */
  readonly current = (): FeatureValue | undefined => {
    if (this.computed !== this.version) {
      this.value = this.read();
      this.computed = this.version;
    }
    return this.value;
  };

  /** An event of the entity: pushed whatever the value, and the timer re-armed. */
  changed(): void {
    this.version++;
    for (const q of this.queues) q.offer(this.entity, this.current);
    this.decay.start();
  }

  /** Stops listening: the last subscriber left. */
  close(): void {
    this.decay.stop();
    this.unsubscribe();
  }

  /** At a time tiles left the window: pushes the value if it differs from the last one. Returns false once drained. */
  private expired(): boolean {
    const fresh = this.read();
    // With an event's change not yet pulled, the pull reads the value after this instant anyway.
    if (this.computed === this.version && !sameAnswer(fresh, this.value)) {
      this.version++;
      this.value = fresh;
      this.computed = this.version;
      for (const q of this.queues) q.offer(this.entity, this.current);
    }
    return !this.drained(fresh.value);
  }
}

@Injectable()
export class FeatureLiveService {
  private readonly live = new Map<string, LiveValue>();

  constructor(
    @Inject(FeatureStore) private readonly store: FeatureStore,
    @Inject(CHANGES) private readonly changes: ChangeFeed<Change>,
    @Inject(CLOCK) private readonly clock: () => number,
  ) {}

  /**
   * Emits the window's value each time it changes: after each event of `entity` (coalesced),
   * and at each time a tile leaves the window when that changes the value (so a subscriber sees
   * a window drain to 0 or null with no event). The idle sweep frees only entities whose
   * windows are all empty already, so it changes no value the timer has not pushed.
   */
  featureUpdated(name: string, entity: string, window: string): CoalescingQueue<FeatureValue> {
    const key = `${name}\u0000${entity}\u0000${window}`;
    let live = this.live.get(key);
    if (live === undefined) {
      const read = (): FeatureValue => {
        const now = this.clock();
        return toFeatureValueModel(name, entity, window, this.store.read(name, entity, window, now), now);
      };
      const first = read(); // throws for an unknown feature or window
      const feature = this.store.feature(name);
      const emptyValue = feature.aggregator.name === 'count' ? 0 : null;
      const value = new LiveValue(entity, read, (v) => v === emptyValue, this.clock, (now) => feature.nextExpiryAt(window, now), first);
      value.unsubscribe = this.changes.subscribe(featureTopic(name, entity), () => value.changed());
      this.live.set(key, value);
      live = value;
    }
    const shared = live;
    const queue = new CoalescingQueue<FeatureValue>(() => {
      shared.queues.delete(queue);
      if (shared.queues.size === 0 && this.live.get(key) === shared) {
        shared.close();
        this.live.delete(key);
      }
    });
    shared.queues.add(queue);
    return queue;
  }

  /** (feature, entity, window) triples with at least one live subscription. */
  get watched(): number {
    return this.live.size;
  }

  /**
   * Emits when an entity's window value crosses the threshold, for any reason: an event, or
   * tiles leaving the window (ThresholdWatch, evaluated around each event and at each time a
   * tile leaves the window). `above`: from at or below to above it; `below`: from at or above
   * to under it (a count that drains reads 0 and crosses; another aggregation's empty window
   * is no value and does not). An entity re-arms once back on the other side, also for any
   * reason, so a card that went quiet and comes back with a burst alerts again. Crossings of
   * one entity within one coalescing tick merge into the last. Throws InputError unless
   * exactly one of `above` and `below` is given.
   */
  /** `only`: crossings of the entities it accepts (in a cluster, those of the partitions this member serves now). */
  featureThreshold(name: string, window: string, threshold: Threshold, only?: (entity: string) => boolean): CoalescingQueue<ThresholdCrossing> {
    const watch = new ThresholdWatch(this.store.feature(name), window, threshold, this.clock()); // throws for an unknown feature or window
    const stops: (() => void)[] = [];
    const queue = new CoalescingQueue<ThresholdCrossing>(() => {
      for (const stop of stops) stop();
    });
    const push = (c: Crossing | undefined, now: number): void => {
      if (c === undefined || (only !== undefined && !only(c.entity))) return;
      const crossing = toThresholdCrossingModel(name, window, watch, c, now);
      queue.offer(c.entity, () => crossing);
    };
    stops.push(
      this.changes.subscribe(featureBeforeTopic(name), (change) => {
        const now = this.clock();
        push(watch.before((change as { entity: string }).entity, now), now);
      }),
    );
    stops.push(
      this.changes.subscribe(featureTopic(name), (change) => {
        if (change.kind !== 'feature') return;
        const now = this.clock();
        push(watch.after(change.entity, now), now);
      }),
    );
    // At each time a tile leaves the window; a lifetime window never drains.
    const timer = new ExpiryTimer(
      this.clock,
      (now) => watch.nextExpiryAt(now),
      (now) => {
        for (const c of watch.expire(now)) push(c, now);
        return true;
      },
    );
    timer.start();
    stops.push(() => timer.stop());
    return queue;
  }
}
