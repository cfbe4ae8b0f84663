/**
 * Builds and starts a Tally application: used by main.ts and by the e2e tests, which start
 * the real app (with a real broker) on a free port.
 */
import 'reflect-metadata';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BadRequestException, ValidationPipe, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { AppModule } from './app.module.js';
import { QueryFastPath } from './graphql/query-fast-path.js';
import { DocumentScreen } from './graphql/security/document-screen.js';
import { Metrics } from './ops/metrics.js';
import { ApiKeys } from './security/api-keys.js';
import { BodyError, readJsonBody } from './ingest/json-body.js';
import { httpAuthHook, ingestCsrfHook } from './security/http-auth.js';
import type { TallyRuntime } from './settings/settings.module.js';

/**
 * The dashboard (`/`) and GraphiQL (`/graphiql`): browser assets built by `npm run build`
 * (scripts/build-web.ts) into dist/public; the same path from src/ (tests) and dist/.
 */
export const PUBLIC_DIR = fileURLToPath(new URL('../dist/public', import.meta.url));

/** Largest HTTP body accepted (ingest batches); larger requests get 413. */
export const MAX_BODY_BYTES = 10 * 1024 * 1024;

/**
 * The HTTP platform is Fastify: measured against Express under Nest with the same app, a
 * 1 x 20 onlineFeatures request cost half the server CPU (README, Performance).
 */
export async function createTally(runtime: TallyRuntime): Promise<INestApplication> {
  const adapter = new FastifyAdapter({ bodyLimit: MAX_BODY_BYTES });
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot(runtime), adapter, { logger: ['error', 'warn'] });
  const fastify = app.getHttpAdapter().getInstance();
  // NDJSON (and plain text) ingest bodies arrive as one string. JSON is read by Tally's own
  // parser (src/ingest/json-body.ts): plain JSON.parse, so `__proto__` is an ordinary key as in
  // NDJSON, and nesting measured before a large body is parsed.
  fastify.addContentTypeParser(['application/x-ndjson', 'application/ndjson', 'text/plain'], { parseAs: 'string' }, (_req, body, done) => done(null, body));
  app.useBodyParser('application/json', { bodyLimit: MAX_BODY_BYTES }, (req, body, done) => {
    try {
      done(null, readJsonBody(body.toString('utf8'), req.url.startsWith('/ingest/')));
    } catch (err) {
      done(err instanceof BodyError ? new BadRequestException(err.message) : (err as Error), undefined);
    }
  });
  // A page on another site cannot make a browser post events (the rule Apollo applies to /graphql).
  fastify.addHook('onRequest', ingestCsrfHook(app.get(Metrics)));
  // Static files answer without a key (http-auth.ts, STATIC_ROUTE); every data call they make goes
  // through /graphql. A directory without its trailing slash (`/graphiql`) is redirected to it
  // (`/graphiql/`, query kept): served in place, the page's relative URLs would miss its scripts.
  // The redirect is a 302 answered here, before the static plugin's own (a 301, which browsers
  // keep for good, so a later version could never serve that path differently).
  await app.useStaticAssets({ root: PUBLIC_DIR, prefix: '/', index: 'index.html', redirect: true });
  const pageDirs = pageDirectories(PUBLIC_DIR);
  fastify.addHook('onRequest', (req, reply, done) => {
    if (req.method === 'GET' || req.method === 'HEAD') {
      const q = req.url.indexOf('?');
      const path = q < 0 ? req.url : req.url.slice(0, q);
      if (pageDirs.has(path)) {
        reply.redirect(`${path}/${q < 0 ? '' : req.url.slice(q)}`, 302);
        return;
      }
    }
    done();
  });
  // A browser opening /graphql (a page load, not an API call) lands on the bundled GraphiQL.
  fastify.addHook('onRequest', (req, reply, done) => {
    if (req.method === 'GET' && req.routeOptions.url === '/graphql' && (req.query as { query?: unknown }).query === undefined && (req.headers.accept ?? '').includes('text/html')) {
      reply.redirect('/graphiql/', 302);
      return;
    }
    done();
  });
  // Everything else needs a key (but /health and /metrics), checked before any body is read.
  fastify.addHook('onRequest', httpAuthHook(app.get(ApiKeys), app.get(Metrics)));
  // GraphQL documents past the structural limits are refused once the body is parsed, before
  // Apollo validates them.
  fastify.addHook('preValidation', app.get(DocumentScreen).hook);
  // Queries whose document Apollo has already resolved are executed without its per-request
  // pipeline; the rest (and any answer with errors) goes on to Apollo.
  fastify.addHook('preHandler', app.get(QueryFastPath).hook);
  app.useGlobalPipes(new ValidationPipe({ transform: true, forbidUnknownValues: false }));
  await app.listen(runtime.settings.port, runtime.settings.host);
  return app;
}

/** The URL paths (no trailing slash) of the directories under `root` that hold an index.html. */
export function pageDirectories(root: string, prefix = ''): Set<string> {
  const dirs = new Set<string>();
  if (!existsSync(root)) return dirs;
  for (const entry of readdirSync(root, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const dir = join(root, entry.name);
    const path = `${prefix}/${entry.name}`;
    if (existsSync(join(dir, 'index.html'))) dirs.add(path);
    for (const d of pageDirectories(dir, path)) dirs.add(d);
  }
  return dirs;
}

/** The address an app listens on, as a base URL. */
export function baseUrl(app: INestApplication): string {
  const address = app.getHttpServer().address();
  if (address === null || typeof address === 'string') throw new Error('the app is not listening on a TCP port');
  return `http://127.0.0.1:${address.port}`;
}
