/** The GraphQL context as Nest's Apollo driver (and the query fast path) build it. */
export interface GraphqlContext {
  req?: { headers?: Record<string, string | string[] | undefined> };
}

/** The caller's Authorization header, passed on when a request is forwarded or gathered. */
export function authorizationOf(ctx: GraphqlContext | undefined): string | undefined {
  const a = ctx?.req?.headers?.authorization;
  return typeof a === 'string' ? a : undefined;
}
