// The dashboard's only way to Tally: GraphQL queries over HTTP (POST /graphql) and
// subscriptions over graphql-ws on the same path, with the API key as `Authorization: Bearer`
// on HTTP and in the connection_init payload on WebSocket.
import { createClient, type Client } from 'graphql-ws';
import { bearer, wsUrl } from './api-key.js';

export type ConnectionState = 'connecting' | 'connected' | 'closed';

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code?: string,
  ) {
    super(message);
  }

  /** The request was refused for want of a (valid) key. */
  get unauthorized(): boolean {
    return this.status === 401 || this.status === 403 || this.code === 'UNAUTHENTICATED' || this.code === 'FORBIDDEN';
  }
}

interface GraphqlErrorBody {
  message: string;
  extensions?: { code?: string };
}

export class TallyApi {
  private readonly ws: Client;
  private readonly listeners = new Set<(state: ConnectionState, detail?: string) => void>();

  constructor(private readonly key: string) {
    const authorization = bearer(key);
    this.ws = createClient({
      url: wsUrl(),
      connectionParams: () => (authorization ? { authorization } : {}),
      lazy: true,
      keepAlive: 15_000,
      retryAttempts: Number.POSITIVE_INFINITY,
      shouldRetry: () => true,
      retryWait: async (retries) => new Promise((r) => setTimeout(r, Math.min(1000 * 2 ** retries, 10_000))),
    });
    this.ws.on('connecting', () => this.emit('connecting'));
    this.ws.on('connected', () => this.emit('connected'));
    this.ws.on('closed', (e) => {
      const close = e as { code?: number; reason?: string };
      this.emit('closed', close.reason || (close.code ? `closed (${close.code})` : undefined));
    });
  }

  get hasKey(): boolean {
    return this.key.length > 0;
  }

  /** Calls `fn` at each change of the WebSocket's state; returns the function that stops it. */
  onConnection(fn: (state: ConnectionState, detail?: string) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private emit(state: ConnectionState, detail?: string): void {
    for (const fn of this.listeners) fn(state, detail);
  }

  /** Runs a query; throws ApiError on HTTP or GraphQL errors. */
  async query<T>(query: string, variables?: Record<string, unknown>): Promise<T> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    const authorization = bearer(this.key);
    if (authorization) headers.authorization = authorization;
    let res: Response;
    try {
      res = await fetch('/graphql', { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
    } catch (err) {
      throw new ApiError(`Tally is not reachable (${(err as Error).message})`, 0);
    }
    let body: { data?: T; errors?: GraphqlErrorBody[]; message?: string } = {};
    try {
      body = await res.json();
    } catch {
      // not JSON: reported below by status
    }
    if (body.errors?.length) throw new ApiError(body.errors.map((e) => e.message).join('; '), res.status, body.errors[0].extensions?.code);
    if (!res.ok || body.data === undefined) throw new ApiError(body.message ?? `HTTP ${res.status}`, res.status);
    return body.data;
  }

  /** Subscribes; `onData` gets each payload's data. Returns the function that ends it. */
  subscribe<T>(query: string, variables: Record<string, unknown>, onData: (data: T) => void, onError?: (message: string) => void): () => void {
    return this.ws.subscribe<T>(
      { query, variables },
      {
        next: (r) => {
          if (r.errors?.length) onError?.(r.errors.map((e) => e.message).join('; '));
          else if (r.data) onData(r.data as T);
        },
        error: (e) => onError?.(describe(e)),
        complete: () => {},
      },
    );
  }
}

function describe(e: unknown): string {
  if (Array.isArray(e)) return e.map((x: { message?: string }) => x.message ?? String(x)).join('; ');
  if (e instanceof Error) return e.message;
  const close = e as { code?: number; reason?: string };
  if (close && typeof close.code === 'number') return close.reason || `connection closed (${close.code})`;
  return String(e);
}
