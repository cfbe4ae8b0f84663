/**
 * ChangeFeed: stores' changes, fanned out in-process to whoever listens (GraphQL
 * subscriptions). A change names a topic (`feature:<name>:<entity>`); listeners are called
 * synchronously and must only mark work to do (see graphql/live/coalescing-queue.ts), so a
 * publish costs a map lookup when nobody listens.
 */

export type Listener<T> = (change: T) => void;

export class ChangeFeed<T = unknown> {
  private readonly listeners = new Map<string, Set<Listener<T>>>();
  /**
   * Topics listened to per family: a topic's first two `:`-separated parts (`feature` and the
   * feature's name in `feature:<name>:<entity>`). Lets a publisher skip building topics and
   * changes for a store nobody listens to (see listening()).
   */
  private readonly families = new Map<string, Map<string, number>>();

  /** Calls every listener of `topic`. */
  publish(topic: string, change: T): void {
    const set = this.listeners.get(topic);
    if (set === undefined) return;
    for (const l of set) l(change);
  }

  /**
   * True when some topic of family `kind`:`name` has a listener (`listening('feature', 'f')` for
   * `feature:f` and every `feature:f:<entity>`). A publisher may skip publishing when false:
   * publish() would find no listener anyway.
   */
  listening(kind: string, name: string): boolean {
    return this.families.get(kind)?.has(name) === true;
  }

  /** Adds a listener; returns the function that removes it. */
  subscribe(topic: string, listener: Listener<T>): () => void {
    let set = this.listeners.get(topic);
    if (set === undefined) {
      set = new Set();
      this.listeners.set(topic, set);
      this.countFamily(topic, 1);
    }
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0 && this.listeners.get(topic) === set) {
        this.listeners.delete(topic);
        this.countFamily(topic, -1);
      }
    };
  }

  private countFamily(topic: string, delta: 1 | -1): void {
    const i = topic.indexOf(':');
    const kind = i < 0 ? topic : topic.slice(0, i);
    const j = i < 0 ? -1 : topic.indexOf(':', i + 1);
    const name = i < 0 ? '' : j < 0 ? topic.slice(i + 1) : topic.slice(i + 1, j);
    let names = this.families.get(kind);
    if (names === undefined) {
      names = new Map();
      this.families.set(kind, names);
    }
    const n = (names.get(name) ?? 0) + delta;
    if (n > 0) names.set(name, n);
    else {
      names.delete(name);
      if (names.size === 0) this.families.delete(kind);
    }
  }
}

/** What the ingest path publishes after applying an event. */
export type Change =
  | { kind: 'feature'; name: string; entity: string; ts: number }
  | { kind: 'view'; name: string; entity: string; ts: number }
  | { kind: 'leaderboard'; name: string; member: string; ts: number }
  /**
   * A member's stored position after an update (ts = its report time), or its removal
   * (`gone`: TTL expiry, ts = the moment it timed out; lat/lon its last position).
   */
  | { kind: 'geo'; name: string; member: string; ts: number; lat: number; lon: number; reportedAt: number; gone: boolean }
  | { kind: 'fence'; index: string; fence: string; member: string; enter: boolean; lat: number; lon: number; ts: number };

export const featureTopic = (name: string, entity?: string): string => (entity === undefined ? `feature:${name}` : `feature:${name}:${entity}`);
/** The family of featureBeforeTopic(). */
export const FEATURE_BEFORE = 'feature-before';
/**
 * Published just before an event of a feature is applied (only while something also listens
 * to the feature's own topics): a threshold watch reads the entity's value as it was, so a
 * drained window re-arms before the event takes it up again.
 */
export const featureBeforeTopic = (name: string): string => `${FEATURE_BEFORE}:${name}`;
export const viewTopic = (name: string, entity: string): string => `view:${name}:${entity}`;
export const leaderboardTopic = (name: string): string => `leaderboard:${name}`;
export const geoTopic = (name: string): string => `geo:${name}`;
export const fenceTopic = (index: string): string => `fence:${index}`;
