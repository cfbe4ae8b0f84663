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
import { FeatureStore } from '../../features/index.js';
import { featureTopic, type Change, type ChangeFeed } from '../../changes/change-feed.js';
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
   * Emits when an entity's window value goes from at or below `above` to above it; an entity
   * must fall back to or below the threshold before it can emit again (one alert per crossing).
   */
  featureThreshold(name: string, window: string, above: number): CoalescingQueue<ThresholdCrossing> {
    const f = this.store.feature(name);
    if (!f.hasWindow(window)) this.store.read(name, '', window, this.clock()); // throws, naming the window
    const over = new Set<string>();
    let unsubscribe = () => {};
    const queue = new CoalescingQueue<ThresholdCrossing>(() => unsubscribe());
    unsubscribe = this.changes.subscribe(featureTopic(name), (change) => {
      if (change.kind !== 'feature') return;
      const entity = change.entity;
      queue.offer(entity, () => {
        const now = this.clock();
        const value = f.read(entity, window, now).value;
        if (value === null || value <= above) {
          over.delete(entity);
          return undefined;
        }
        if (over.has(entity)) return undefined;
        over.add(entity);
        return { name, entity, window, value, at: new Date(now) };
      });
    });
    return queue;
  }
}
