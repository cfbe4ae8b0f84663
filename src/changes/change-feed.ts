/**
 * ChangeFeed: stores' changes, fanned out in-process to whoever listens (GraphQL
 * subscriptions). A change names a topic (`feature:<name>:<entity>`); listeners are called
 * synchronously and must only mark work to do (see graphql/live/coalescing-queue.ts), so a
 * publish costs a map lookup when nobody listens.
 */

export type Listener<T> = (change: T) => void;

export class ChangeFeed<T = unknown> {
  private readonly listeners = new Map<string, Set<Listener<T>>>();

  /** Calls every listener of `topic`. */
  publish(topic: string, change: T): void {
    const set = this.listeners.get(topic);
    if (set === undefined) return;
    for (const l of set) l(change);
  }

  /** Adds a listener; returns the function that removes it. */
  subscribe(topic: string, listener: Listener<T>): () => void {
    let set = this.listeners.get(topic);
    if (set === undefined) {
      set = new Set();
      this.listeners.set(topic, set);
    }
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0 && this.listeners.get(topic) === set) this.listeners.delete(topic);
    };
  }
}

/** What the ingest path publishes after applying an event. */
export type Change =
  | { kind: 'feature'; name: string; entity: string; ts: number }
  | { kind: 'view'; name: string; entity: string; ts: number }
  | { kind: 'leaderboard'; name: string; member: string; ts: number }
  | { kind: 'geo'; name: string; member: string; ts: number }
  | { kind: 'fence'; index: string; fence: string; member: string; enter: boolean; lat: number; lon: number; ts: number };

export const featureTopic = (name: string, entity?: string): string => (entity === undefined ? `feature:${name}` : `feature:${name}:${entity}`);
export const viewTopic = (name: string, entity: string): string => `view:${name}:${entity}`;
export const leaderboardTopic = (name: string): string => `leaderboard:${name}`;
export const geoTopic = (name: string): string => `geo:${name}`;
export const fenceTopic = (index: string): string => `fence:${index}`;
