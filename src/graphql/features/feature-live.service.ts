/**
 * Live feature values for subscriptions: listens to the change feed and feeds one
 * CoalescingQueue per subscription, computing values from the store only when the client
 * pulls them.
 */
import { Inject, Injectable } from '@nestjs/common';
import { FeatureStore } from '../../features/index.js';
import { featureTopic, type Change, type ChangeFeed } from '../../changes/change-feed.js';
import { CHANGES, CLOCK } from '../../settings/tokens.js';
import { CoalescingQueue } from '../live/coalescing-queue.js';
import { toFeatureValueModel, type FeatureValue } from './models/feature-value.model.js';
import type { ThresholdCrossing } from './models/threshold-crossing.model.js';

@Injectable()
export class FeatureLiveService {
  constructor(
    @Inject(FeatureStore) private readonly store: FeatureStore,
    @Inject(CHANGES) private readonly changes: ChangeFeed<Change>,
    @Inject(CLOCK) private readonly clock: () => number,
  ) {}

  /** Emits the window's value each time an event of `entity` changes it (coalesced). */
  featureUpdated(name: string, entity: string, window: string): CoalescingQueue<FeatureValue> {
    this.store.read(name, entity, window, this.clock()); // throws for an unknown feature or window
    let unsubscribe = () => {};
    const queue = new CoalescingQueue<FeatureValue>(() => unsubscribe());
    const compute = () => {
      const now = this.clock();
      return toFeatureValueModel(name, entity, window, this.store.read(name, entity, window, now), now);
    };
    unsubscribe = this.changes.subscribe(featureTopic(name, entity), () => queue.offer(entity, compute));
    return queue;
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
