/*
 * Subscriptions in a cluster: a live value of one entity (featureUpdated, viewUpdated) is
 * produced where the entity's partition is applied, so a member asked for it FOLLOWS the
 * owner: while it owns the partition it reads its own change feed; otherwise it holds one
 * upstream subscription to the owner (graphql-ws over the owner's /graphql, authenticated with
 * the cluster secret) and relays what comes. It routes again on every map change and when the
 * upstream ends (the owner stopped or was killed): the client's subscription stays open and
 * keeps delivering from whoever owns the partition next (after the group's session timeout
 * and the restore, for a killed owner). While the partition is being restored here, the local
 * values (counts rebuilt event by event from the earliest offset) are held back, and the
 * latest is pushed once the restore is done: a subscriber never sees a value built from part
 * of the partition's events. One follower per (operation, entity) is shared by every local
 * subscriber.
 */
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import type { ClusterState } from './cluster-state.js';
import type { Consumer, Pullable } from '../graphql/live/coalescing-queue.js';

/** connection_init payload field a peer presents the cluster secret in. */
export const PEER_SECRET_PARAM = 'tallyClusterSecret';

/** Wait before routing again after an upstream ended or while no owner is known. */
const REROUTE_MS = 500;

/** How often a value held back during a restore looks whether the restore is done. */
const RESTORE_POLL_MS = 200;

/** graphql-ws clients to the peers, one per member URL, opened on first use. */
export class PeerSubscriptions {
  private readonly clients = new Map<string, Client>();

  constructor(private readonly secret: string) {}

  /** Subscribes to `query` on the member at `url`; `onEnd` is called once when it ends for any reason. Returns the unsubscribe. */
  subscribe(url: string, query: string, variables: Record<string, unknown>, onData: (data: unknown) => void, onEnd: (why: string) => void): () => void {
    let ended = false;
    const end = (why: string) => {
      if (ended) return;
      ended = true;
      onEnd(why);
    };
    const stop = this.client(url).subscribe(
      { query, variables },
      {
        next: (r) => (r.errors?.length ? end(r.errors.map((e) => e.message).join('; ')) : onData(r.data)),
        error: (err) => end(err instanceof Error ? err.message : String((err as { reason?: string }).reason ?? err)),
        complete: () => end('completed'),
      },
    );
    return () => {
      ended = true;
      stop();
    };
  }

  close(): void {
    for (const c of this.clients.values()) void c.dispose();
    this.clients.clear();
  }

  private client(url: string): Client {
    let c = this.clients.get(url);
    if (c === undefined) {
      c = createClient({
        url: `${url.replace(/^http/, 'ws')}/graphql`,
        webSocketImpl: WebSocket,
        connectionParams: { [PEER_SECRET_PARAM]: this.secret },
        lazy: true,
        // A lost peer ends its subscriptions at once: the followers route again (to the next owner).
        retryAttempts: 0,
        keepAlive: 5_000,
      });
      this.clients.set(url, c);
    }
    return c;
  }
}

/** How to follow one entity's live value: locally, or from the owner with this subscription. */
export interface FollowSpec<T> {
  entity: string;
  /** The local live value (a fresh queue; closed with return()). */
  local: () => Pullable<T> & { return(): unknown };
  /** The same subscription asked of the owner, and how its `data` becomes a value. */
  query: string;
  variables: Record<string, unknown>;
  decode: (data: unknown) => T;
}

/** One followed entity: relays values to `push` from wherever the entity is owned now. */
export class Follower<T> implements Consumer<T> {
  private where: string | undefined;
  private stop: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly unlisten: () => void;
  /** The local queue being pumped (when following locally). */
  private localQueue: (Pullable<T> & { return(): unknown }) | undefined;
  /** The latest local value held back while the partition is restoring here. */
  private held: { value: T } | undefined;
  private restoreWatch: NodeJS.Timeout | undefined;

  constructor(
    private readonly spec: FollowSpec<T>,
    private readonly state: ClusterState,
    private readonly peers: PeerSubscriptions,
    private readonly push: (value: T) => void,
  ) {
    this.unlisten = this.state.onChange(() => this.route());
    this.route();
  }

  /** Where values come from now: 'local', a member URL, or undefined (no owner known). */
  get source(): string | undefined {
    return this.where;
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    clearInterval(this.restoreWatch);
    this.unlisten();
    this.detach();
  }

  // Consumer of the local queue.
  deliver(value: T): void {
    if (this.closed || this.localQueue === undefined) return;
    if (this.restoring()) this.holdBack(value);
    else {
      this.held = undefined;
      this.push(value);
    }
    this.localQueue.pull(this);
  }

  private restoring(): boolean {
    return this.state.restoring().has(this.state.partitionOf(this.spec.entity));
  }

  private holdBack(value: T): void {
    this.held = { value };
    this.restoreWatch ??= setInterval(() => {
      if (this.closed || this.restoring()) return;
      clearInterval(this.restoreWatch);
      this.restoreWatch = undefined;
      const held = this.held;
      this.held = undefined;
      if (held !== undefined && this.where === 'local') this.push(held.value);
    }, RESTORE_POLL_MS);
    this.restoreWatch.unref();
  }

  end(): void {}

  private detach(): void {
    this.held = undefined;
    this.stop?.();
    this.stop = undefined;
    this.where = undefined;
  }

  private route(): void {
    if (this.closed) return;
    const owner = this.state.ownerOf(this.state.partitionOf(this.spec.entity));
    const target = owner === undefined ? undefined : owner.instanceId === this.state.self.instanceId ? 'local' : owner.url;
    if (target !== undefined && target === this.where) return;
    this.detach();
    if (target === undefined) return this.later();
    this.where = target;
    if (target === 'local') {
      const queue = this.spec.local();
      this.localQueue = queue;
      this.stop = () => {
        this.localQueue = undefined;
        void queue.return();
      };
      queue.pull(this);
      return;
    }
    this.stop = this.peers.subscribe(target, this.spec.query, this.spec.variables, (data) => this.push(this.spec.decode(data)), () => {
      // The owner went away (or refused): read the map again and follow whoever owns it next.
      this.stop = undefined;
      this.where = undefined;
      this.later(true);
    });
  }

  private later(refresh = false): void {
    if (this.closed || this.timer !== undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (refresh) void this.state.refresh().finally(() => this.route());
      else this.route();
    }, REROUTE_MS);
    this.timer.unref();
  }
}

/**
 * One subscription on every other member of the map, kept in step with it: for the live
 * streams every member contributes its own partitions to (threshold crossings, fence events,
 * members of a circle, a leaderboard's changes). Each peer answers from its own partitions
 * (a peer's connection gets its partial stream; see the resolvers). A member that leaves the
 * map is dropped; one whose stream ends (stopped, killed) is asked again while still in the map.
 */
export class PeerFanout {
  private readonly subscribed = new Map<string, () => void>();
  private readonly unlisten: () => void;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly state: ClusterState,
    private readonly peers: PeerSubscriptions,
    private readonly query: string,
    private readonly variables: Record<string, unknown>,
    private readonly onData: (data: unknown, url: string) => void,
    onMap?: () => void,
  ) {
    this.unlisten = this.state.onChange(() => {
      this.sync();
      onMap?.();
    });
    this.sync();
  }

  /** The members subscribed to now (for tests and diagnostics). */
  get sources(): string[] {
    return [...this.subscribed.keys()];
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.unlisten();
    for (const stop of this.subscribed.values()) stop();
    this.subscribed.clear();
  }

  private sync(): void {
    if (this.closed) return;
    const urls = new Set(this.state.map.members.filter((m) => m.instanceId !== this.state.self.instanceId && m.url !== '').map((m) => m.url));
    for (const [url, stop] of this.subscribed) {
      if (urls.has(url)) continue;
      stop();
      this.subscribed.delete(url);
    }
    for (const url of urls) {
      if (this.subscribed.has(url)) continue;
      const stop = this.peers.subscribe(url, this.query, this.variables, (data) => this.onData(data, url), () => {
        this.subscribed.delete(url);
        this.later();
      });
      this.subscribed.set(url, stop);
    }
  }

  private later(): void {
    if (this.closed || this.timer !== undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.state.refresh().finally(() => this.sync());
    }, REROUTE_MS);
    this.timer.unref();
  }
}
