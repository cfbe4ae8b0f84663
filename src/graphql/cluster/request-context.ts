/** The GraphQL context as Nest's Apollo driver (and the query fast path) build it. */
export interface GraphqlContext {
  req?: { headers?: Record<string, string | string[] | undefined> };
  /** Set on the subscriptions of another member of the cluster (PEER_CONTEXT). */
  clusterPeer?: true;
}

/**
 * The context of a subscription another member opened (its connection presented the cluster
 * secret): the whole-set subscriptions answer it from this member's own partitions only, the
 * part it merges with the others'.
 */
export const PEER_CONTEXT: GraphqlContext = Object.freeze({ clusterPeer: true });

/** True for a subscription opened by another member of the cluster. */
export function isClusterPeer(ctx: GraphqlContext | undefined): boolean {
  return ctx?.clusterPeer === true;
}

/** The caller's Authorization header, passed on when a request is forwarded or gathered. */
export function authorizationOf(ctx: GraphqlContext | undefined): string | undefined {
  const a = ctx?.req?.headers?.authorization;
  return typeof a === 'string' ? a : undefined;
}
