/**
 * Live feature vectors behind `viewUpdated`: what `featureVector` would answer, pushed each
 * time it changes — after an event changes the entity's fields, and when the view's TTL
 * expires the vector (then null, as the query answers).
 *
 * Subscriptions of the same (view, entity) share one LiveVector: one change-feed listener, one
 * expiry timer (armed for the moment the vector stops being readable, View.expiresAt), and one
 * model per distinct state, read by the first subscriber that pulls it and handed to the others
 * as is (so sharedSubscribe executes a document once per state). A change that leaves the
 * vector as it was (an event older than every field it carries) is not pushed: each subscriber
 * remembers the state it last got. A new subscriber first gets the current vector when there
 * is one.
 */
import { Inject, Injectable } from '@nestjs/common';
import { ViewStore, type VectorRead, type View } from '../../features/index.js';
import { viewTopic, type Change, type ChangeFeed } from '../../changes/change-feed.js';
import { CHANGES, CLOCK } from '../../settings/tokens.js';
import { CoalescingQueue } from '../live/coalescing-queue.js';
import { toFeatureVectorModel, type FeatureVector } from './models/feature-vector.model.js';

/** Longest delay setTimeout takes (2^31 - 1 ms, about 24.8 days); a longer one fires at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** Past the last readable moment before reading again: the vector is gone 1 ms after it (View's TTL test is `>`). */
const EXPIRY_SLACK_MS = 1;

/** Same vector: same newest update, and every field the same value set at the same time. */
function sameRead(a: VectorRead | null, b: VectorRead | null): boolean {
  if (a === null || b === null) return a === b;
  if (a.updatedAt !== b.updatedAt) return false;
  for (const f in a.values) if (!Object.is(a.values[f], b.values[f]) || a.fieldTimes[f] !== b.fieldTimes[f]) return false;
  return true;
}

/** The subscribers of one (view, entity) and its vector as of the latest change. */
class LiveVector {
  /** Each subscriber's queue and the pull function that remembers what it last delivered. */
  readonly queues = new Map<CoalescingQueue<FeatureVector | null>, () => FeatureVector | null | undefined>();
  unsubscribe = (): void => {};
  private version = 0;
  private computed = -1;
  private read: VectorRead | null = null;
  private model: FeatureVector | null = null;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Number.NaN;

  constructor(
    private readonly view: View,
    private readonly entity: string,
    private readonly clock: () => number,
  ) {}

  /** The vector (null: none readable) as of the latest change; the same object while it is unchanged. */
  current(): FeatureVector | null {
    if (this.computed !== this.version) {
      const now = this.clock();
      const read = this.view.read(this.entity, now);
      if (!sameRead(read, this.read)) {
        this.read = read;
        this.model = read && toFeatureVectorModel(this.view.name, this.entity, read);
      }
      this.computed = this.version;
      this.arm(now);
    }
    return this.model;
  }

  changed(): void {
    this.version++;
    for (const [q, pull] of this.queues) q.offer('v', pull);
  }

  /** A pull function for a new subscriber: the current state, unless it is the one this subscriber got last (or null before anything). */
  puller(): () => FeatureVector | null | undefined {
    let last: FeatureVector | null = null;
    return () => {
      const v = this.current();
      if (v === last) return undefined;
      last = v;
      return v;
    };
  }

  /** Arms the timer for the moment the current vector expires (once per moment). */
  private arm(now: number): void {
    const at = this.read === null ? undefined : this.view.expiresAt(this.entity);
    if (at === undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
      this.timerAt = Number.NaN;
      return;
    }
    if (at === this.timerAt && this.timer !== undefined) return;
    clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.timerAt = Number.NaN;
      this.changed(); // re-read: null if expired, else (a clamped or early timer) re-armed
    }, Math.min(MAX_TIMER_MS, Math.max(0, at + EXPIRY_SLACK_MS - now)));
    this.timer.unref();
  }

  close(): void {
    clearTimeout(this.timer);
    this.unsubscribe();
  }
}

@Injectable()
export class ViewLiveService {
  private readonly live = new Map<string, LiveVector>();

  constructor(
    @Inject(ViewStore) private readonly views: ViewStore,
    @Inject(CHANGES) private readonly changes: ChangeFeed<Change>,
    @Inject(CLOCK) private readonly clock: () => number,
  ) {}

  /** The entity's vector now (when there is one), then each change of it, null when it expires. */
  viewUpdated(view: string, entity: string): CoalescingQueue<FeatureVector | null> {
    const v = this.views.view(view); // throws for an unknown view
    const key = `${view}\u0000${entity}`;
    let live = this.live.get(key);
    if (live === undefined) {
      const created = new LiveVector(v, entity, this.clock);
      created.unsubscribe = this.changes.subscribe(viewTopic(view, entity), () => created.changed());
      this.live.set(key, created);
      live = created;
    }
    const shared = live;
    const queue = new CoalescingQueue<FeatureVector | null>(() => {
      shared.queues.delete(queue);
      if (shared.queues.size === 0 && this.live.get(key) === shared) {
        shared.close();
        this.live.delete(key);
      }
    });
    // The first pull delivers the current vector, unless there is none; later ones each new state.
    const pull = shared.puller();
    shared.queues.set(queue, pull);
    if (shared.current() !== null) queue.offer('v', pull);
    return queue;
  }

  /** (view, entity) pairs with at least one live subscription. */
  get watched(): number {
    return this.live.size;
  }
}
