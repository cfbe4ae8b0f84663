/**
 * Authentication and roles on HTTP.
 *
 * - `httpAuthHook` is a Fastify onRequest hook: it runs before any body is read, so a missing
 *   or unknown key gets 401 at once and an anonymous client can make Tally neither parse a
 *   body nor run anything. The probes (`/health`, `/livez`, `/readyz`), `/metrics` and the
 *   static files of the dashboard answer without a key. The principal is remembered per request.
 * - `HttpRoleGuard` (a global Nest guard) checks the role of controller routes (403), marked
 *   with RequireRole or defaulting by method (roles.ts), and takes the route's cost from the
 *   principal's rate bucket (429): one unit per request, one per event for ingest bodies.
 *   GraphQL operations are checked by the OperationGate instead (src/graphql/security).
 */
import { ForbiddenException, HttpException, HttpStatus, Inject, Injectable, UnauthorizedException, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { IncomingMessage } from 'node:http';
import { Metrics } from '../ops/metrics.js';
import type { Role } from '../settings/settings.js';
import { allows, ApiKeys, type Principal } from './api-keys.js';
import { RateLimiter } from './rate-limiter.js';
import { defaultHttpRole, ROLE_METADATA } from './roles.js';

/** Paths that answer without a key (monitoring). */
export const OPEN_PATHS: ReadonlySet<string> = new Set(['/health', '/livez', '/readyz', '/metrics']);

/** The route pattern of the static files (@fastify/static's wildcard route, see bootstrap.ts). */
export const STATIC_ROUTE = '/*';

const principals = new WeakMap<IncomingMessage, Principal>();

/** The principal the hook authenticated for `req` (Fastify's request or the Node one), if any. */
export function principalOf(req: IncomingMessage | FastifyRequest): Principal | undefined {
  return principals.get('raw' in req ? req.raw : req);
}

/** The path of a request (its URL without the query). */
export const pathOf = (req: { url?: string }): string => {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
};

export function httpAuthHook(keys: ApiKeys, metrics: Metrics) {
  return (req: FastifyRequest, reply: FastifyReply, done: () => void): void => {
    const path = pathOf(req);
    // Monitoring, and the dashboard's files (their data calls go through /graphql with a key).
    // The method first: Fastify builds routeOptions anew on each read.
    if (OPEN_PATHS.has(path) || ((req.method === 'GET' || req.method === 'HEAD') && req.routeOptions.url === STATIC_ROUTE)) return done();
    const auth = keys.authenticate(req.headers.authorization, req.socket.remoteAddress);
    if (auth.ok) {
      principals.set(req.raw, auth.principal);
      return done();
    }
    metrics.requestsRefused.inc({ transport: 'http', reason: 'unauthenticated' });
    reply.code(401).header('WWW-Authenticate', 'Bearer realm="tally"');
    // Answer in the shape the client speaks; the body is never read.
    if (path === '/graphql') reply.send({ errors: [{ message: auth.message, extensions: { code: 'UNAUTHENTICATED' } }] });
    else reply.send({ statusCode: 401, error: 'Unauthorized', message: auth.message });
  };
}

/** Content types a browser may send cross-site without a CORS preflight (the Fetch standard's "simple" ones). */
const SIMPLE_CONTENT_TYPES: ReadonlySet<string> = new Set(['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data']);

/** Headers whose presence proves a preflight happened (a browser cannot send them cross-site without one); Apollo's names, so one rule serves /graphql and /ingest. */
const PREFLIGHT_HEADERS = ['apollo-require-preflight', 'x-apollo-operation-name'] as const;

/**
 * CSRF prevention for `POST /ingest/*`, the rule Apollo applies to /graphql: a request with a
 * simple content type (or none) must carry a header that forces a preflight
 * (`apollo-require-preflight: 1`), so a page on another site cannot make a visitor's browser
 * post events; 400 otherwise. JSON (`application/json`) and NDJSON
 * (`application/x-ndjson`) bodies are not simple and pass as they are.
 */
export function ingestCsrfHook(metrics: Metrics) {
  return (req: FastifyRequest, reply: FastifyReply, done: () => void): void => {
    if (req.method !== 'POST' || !pathOf(req).startsWith('/ingest/')) return done();
    const type = req.headers['content-type'];
    const mime = type === undefined ? undefined : type.split(';')[0].trim().toLowerCase();
    if ((mime !== undefined && !SIMPLE_CONTENT_TYPES.has(mime)) || PREFLIGHT_HEADERS.some((h) => (req.headers[h] ?? '') !== '')) return done();
    metrics.requestsRefused.inc({ transport: 'http', reason: 'csrf' });
    reply.code(400).send({
      statusCode: 400,
      error: 'Bad Request',
      message: `ingest refused as a potential cross-site request forgery: content type ${mime === undefined ? '(none)' : `"${mime}"`} can be sent by any web page; send application/json or application/x-ndjson, or add the header "apollo-require-preflight: 1"`,
    });
  };
}

/** Cost of an HTTP route for the rate limit: one per request, or one per event of an ingest body. */
export function httpCost(body: unknown): number {
  if (Array.isArray(body)) return Math.max(1, body.length);
  if (typeof body === 'string') {
    let lines = 1;
    for (let i = body.indexOf('\n'); i >= 0; i = body.indexOf('\n', i + 1)) lines++;
    return lines;
  }
  return 1;
}

@Injectable()
export class HttpRoleGuard implements CanActivate {
  constructor(
    @Inject(Reflector) private readonly reflector: Reflector,
    @Inject(RateLimiter) private readonly rate: RateLimiter,
    @Inject(Metrics) private readonly metrics: Metrics,
  ) {}

  canActivate(context: ExecutionContext): boolean {
    if (context.getType() !== 'http') return true; // GraphQL: the OperationGate checked it
    const req = context.switchToHttp().getRequest<FastifyRequest>();
    if (OPEN_PATHS.has(pathOf(req))) return true;
    const principal = principalOf(req);
    if (principal === undefined) throw new UnauthorizedException('an API key is required: Authorization: Bearer <key>');
    const need = this.reflector.getAllAndOverride<Role | undefined>(ROLE_METADATA, [context.getHandler(), context.getClass()]) ?? defaultHttpRole(req.method);
    if (!allows(principal.role, need)) {
      this.metrics.requestsRefused.inc({ transport: 'http', reason: 'forbidden' });
      throw new ForbiddenException(`this key's role (${principal.role}) may not ${req.method} ${pathOf(req)}; it needs ${need}`);
    }
    const wait = this.rate.take(principal.id, httpCost(req.body), Date.now());
    if (wait > 0) {
      this.metrics.requestsRefused.inc({ transport: 'http', reason: 'rate-limited' });
      const seconds = Math.ceil(wait / 1000);
      context.switchToHttp().getResponse<FastifyReply>().header('Retry-After', String(seconds));
      throw new HttpException(`rate limit: this key may spend ${this.rate.rate} cost units per second; retry in ${seconds} s`, HttpStatus.TOO_MANY_REQUESTS);
    }
    return true;
  }
}
