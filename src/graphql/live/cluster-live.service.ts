/**
 * featureUpdated and viewUpdated in a cluster: each (operation, entity) is followed where its
 * partition is owned (src/cluster/follow.ts), by one Follower shared by every local subscriber;
 * a subscriber's queue gets every value relayed, coalesced as a local one. A subscription stays
 * open across rebalances and the loss of the owner: it delivers again once another member owns
 * the partition. A single instance does not use this (enabled is false).
 */
import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { ClusterState } from '../../cluster/cluster-state.js';
import { Follower, PeerSubscriptions, type FollowSpec } from '../../cluster/follow.js';
import type { Settings } from '../../settings/settings.js';
import { SETTINGS } from '../../settings/tokens.js';
import { FeatureLiveService } from '../features/feature-live.service.js';
import type { FeatureValue } from '../features/models/feature-value.model.js';
import type { FeatureVector } from '../features/models/feature-vector.model.js';
import { ViewLiveService } from '../features/view-live.service.js';
import { CoalescingQueue } from './coalescing-queue.js';

interface Followed<T> {
  follower: Follower<T> | undefined;
  queues: Set<CoalescingQueue<T>>;
  latest: T | undefined;
  has: boolean;
}

type FeatureValueJson = Omit<FeatureValue, 'asOf' | 'lastEventAt'> & { asOf: string; lastEventAt: string | null };
type FeatureVectorJson = Omit<FeatureVector, 'updatedAt'> & { updatedAt: string };

const FEATURE_UPDATED =
  'subscription($name: String!, $entity: String!, $window: String!) { featureUpdated(name: $name, entity: $entity, window: $window) { name entity window value asOf lastEventAt top { item count error } unlistedAtMost } }';
const VIEW_UPDATED = 'subscription($view: String!, $entity: String!) { viewUpdated(view: $view, entity: $entity) { view entity values updatedAt fieldTimes } }';

@Injectable()
export class ClusterLive implements OnApplicationShutdown {
  private readonly peers: PeerSubscriptions | undefined;
  private readonly followed = new Map<string, Followed<unknown>>();

  constructor(
    @Inject(ClusterState) private readonly state: ClusterState,
    @Inject(SETTINGS) settings: Settings,
    @Inject(FeatureLiveService) private readonly features: FeatureLiveService,
    @Inject(ViewLiveService) private readonly views: ViewLiveService,
  ) {
    if (state.enabled && settings.cluster.secret !== undefined) this.peers = new PeerSubscriptions(settings.cluster.secret);
  }

  /** True in a cluster: entity subscriptions follow the entity's owner. */
  get enabled(): boolean {
    return this.peers !== undefined;
  }

  /** Entities followed, and how many from a peer (for tests and diagnostics). */
  sources(): string[] {
    return [...this.followed.values()].map((f) => f.follower?.source ?? 'none');
  }

  featureUpdated(name: string, entity: string, window: string): CoalescingQueue<FeatureValue> {
    void this.features.featureUpdated(name, entity, window).return(); // unknown names are refused here, at once
    return this.follow<FeatureValue>(`f\u0000${name}\u0000${entity}\u0000${window}`, false, {
      entity,
      local: () => this.features.featureUpdated(name, entity, window),
      query: FEATURE_UPDATED,
      variables: { name, entity, window },
      decode: (data) => {
        const v = (data as { featureUpdated: FeatureValueJson }).featureUpdated;
        return { ...v, asOf: new Date(v.asOf), lastEventAt: v.lastEventAt === null ? null : new Date(v.lastEventAt) };
      },
    });
  }

  viewUpdated(view: string, entity: string): CoalescingQueue<FeatureVector | null> {
    void this.views.viewUpdated(view, entity).return();
    return this.follow<FeatureVector | null>(`v\u0000${view}\u0000${entity}`, true, {
      entity,
      local: () => this.views.viewUpdated(view, entity),
      query: VIEW_UPDATED,
      variables: { view, entity },
      decode: (data) => {
        const v = (data as { viewUpdated: FeatureVectorJson | null }).viewUpdated;
        return v && { ...v, updatedAt: new Date(v.updatedAt) };
      },
    });
  }

  onApplicationShutdown(): void {
    for (const f of this.followed.values()) f.follower?.close();
    this.followed.clear();
    this.peers?.close();
  }

  /** A subscriber's queue on the shared follower of `key`; `replay`: a new subscriber first gets the latest non-null value. */
  private follow<T>(key: string, replay: boolean, spec: FollowSpec<T>): CoalescingQueue<T> {
    let entry = this.followed.get(key) as Followed<T> | undefined;
    if (entry === undefined) {
      const created: Followed<T> = { follower: undefined, queues: new Set(), latest: undefined, has: false };
      const current = () => created.latest;
      created.follower = new Follower(spec, this.state, this.peers!, (value) => {
        created.latest = value;
        created.has = true;
        for (const q of created.queues) q.offer('v', current);
      });
      this.followed.set(key, created as Followed<unknown>);
      entry = created;
    }
    const shared = entry;
    const queue: CoalescingQueue<T> = new CoalescingQueue<T>(() => {
      shared.queues.delete(queue);
      if (shared.queues.size === 0 && this.followed.get(key) === (shared as Followed<unknown>)) {
        shared.follower?.close();
        this.followed.delete(key);
      }
    });
    shared.queues.add(queue);
    if (replay && shared.has && shared.latest !== null) queue.offer('v', () => shared.latest);
    return queue;
  }
}
