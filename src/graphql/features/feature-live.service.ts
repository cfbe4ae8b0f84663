/**
 * Live feature values for subscriptions: listens to the change feed and feeds one
 * CoalescingQueue per subscription, computing values from the store only when a client
 * pulls them.
 *
 * Subscriptions of the same (feature, entity, window) share one LiveValue: one change-feed
 * listener, and one value object per change, computed by the first subscriber that pulls it
 * and handed to the others as is (so sharedSubscribe executes it once per document).
 */
import { Inject, Injectable } from '@nestjs/common';
import { FeatureStore, ThresholdWatch, type Crossing } from '../../features/index.js';
import { featureBeforeTopic, featureTopic, type Change, type ChangeFeed } from '../../changes/change-feed.js';
import { CHANGES, CLOCK } from '../../settings/tokens.js';
import { CoalescingQueue } from '../live/coalescing-queue.js';
import { toFeatureValueModel, type FeatureValue } from './models/feature-value.model.js';
import type { ThresholdCrossing } from './models/threshold-crossing.model.js';

/** The subscribers of one (feature, entity, window) and its value as of the latest change. */
class LiveValue {
  readonly queues = new Set<CoalescingQueue<FeatureValue>>();
  unsubscribe = (): void => {};
  private version = 0;
  private computed = -1;
  private value: FeatureValue | undefined;

  constructor(
    private readonly entity: string,
    private readonly read: () => FeatureValue,
  ) {}

  /** The value for the latest change, computed once whoever asks first. */
  readonly current = (): FeatureValue | undefined => {
    if (this.computed !== this.version) {
      this.value = this.read();
      this.computed = this.version;
    }
    return this.value;
  };

  changed(): void {
    this.version++;
    for (const q of this.queues) q.offer(this.entity, this.current);
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

  /** Emits the window's value each time an event of `entity` changes it (coalesced). */
  featureUpdated(name: string, entity: string, window: string): CoalescingQueue<FeatureValue> {
    this.store.read(name, entity, window, this.clock()); // throws for an unknown feature or window
    const key = `${name}\u0000${entity}\u0000${window}`;
    let live = this.live.get(key);
    if (live === undefined) {
      const value = new LiveValue(entity, () => {
        const now = this.clock();
        return toFeatureValueModel(name, entity, window, this.store.read(name, entity, window, now), now);
      });
      value.unsubscribe = this.changes.subscribe(featureTopic(name, entity), () => value.changed());
      this.live.set(key, value);
      live = value;
    }
    const shared = live;
    const queue = new CoalescingQueue<FeatureValue>(() => {
      shared.queues.delete(queue);
      if (shared.queues.size === 0 && this.live.get(key) === shared) {
        shared.unsubscribe();
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
   * Emits when an entity's window value goes from at or below `above` to above it, for any
   * reason: an event, or tiles leaving the window (ThresholdWatch, evaluated around each event
   * and at each time a tile leaves the window). An entity re-arms once its value is at or below
   * the threshold again, also for any reason, so a card that went quiet and comes back with a
   * burst alerts again. Crossings of one entity within one coalescing tick merge into the last.
   */
  featureThreshold(name: string, window: string, above: number): CoalescingQueue<ThresholdCrossing> {
    const watch = new ThresholdWatch(this.store.feature(name), window, above); // throws for an unknown feature or window
    let timer: NodeJS.Timeout | undefined;
    const stops: (() => void)[] = [];
    const queue = new CoalescingQueue<ThresholdCrossing>(() => {
      clearTimeout(timer);
      for (const stop of stops) stop();
    });
    const push = (c: Crossing, now: number): void => {
      const crossing: ThresholdCrossing = { name, entity: c.entity, window, value: c.value, at: new Date(now) };
      queue.offer(c.entity, () => crossing);
    };
    stops.push(this.changes.subscribe(featureBeforeTopic(name), (change) => watch.before((change as { entity: string }).entity, this.clock())));
    stops.push(
      this.changes.subscribe(featureTopic(name), (change) => {
        if (change.kind !== 'feature') return;
        const now = this.clock();
        const c = watch.after(change.entity, now);
        if (c !== undefined) push(c, now);
      }),
    );
    // At each time a tile leaves the window; a lifetime window never drains.
    const schedule = (): void => {
      const now = this.clock();
      const next = watch.nextExpiryAt(now);
      if (!Number.isFinite(next)) return;
      timer = setTimeout(() => {
        const at = this.clock();
        for (const c of watch.expire(at)) push(c, at);
        schedule();
      }, next - now + EXPIRY_SLACK_MS);
      timer.unref();
    };
    schedule();
    return queue;
  }
}

/** Past a tile's expiry time before re-evaluating, so the read is sure to see it gone (timers may fire a little early). */
const EXPIRY_SLACK_MS = 5;
