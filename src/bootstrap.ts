/**
 * Builds and starts a Tally application: used by main.ts and by the e2e tests, which start
 * the real app (with a real broker) on a free port.
 */
import 'reflect-metadata';
import { fileURLToPath } from 'node:url';
import { ValidationPipe, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { NextFunction, Request, Response } from 'express';
import { AppModule } from './app.module.js';
import { Metrics } from './ops/metrics.js';
import { ApiKeys } from './security/api-keys.js';
import { httpAuthMiddleware } from './security/http-auth.js';
import type { TallyRuntime } from './settings/settings.module.js';

/**
 * The dashboard (`/`) and GraphiQL (`/graphiql`): browser assets built by `npm run build`
 * (scripts/build-web.ts) into dist/public; the same path from src/ (tests) and dist/.
 */
export const PUBLIC_DIR = fileURLToPath(new URL('../dist/public', import.meta.url));

/** Largest HTTP body accepted (ingest batches); larger requests get 413. */
export const MAX_BODY = '10mb';

export async function createTally(runtime: TallyRuntime): Promise<INestApplication> {
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(runtime), { logger: ['error', 'warn'], bodyParser: false });
  // Static files answer without a key; every data call they make goes through /graphql.
  app.useStaticAssets(PUBLIC_DIR, { index: 'index.html', fallthrough: true });
  // A browser opening /graphql (a page load, not an API call) lands on the bundled GraphiQL.
  app.use('/graphql', (req: Request, res: Response, next: NextFunction) => {
    if (req.method === 'GET' && req.query.query === undefined && (req.headers.accept ?? '').includes('text/html')) return res.redirect(302, '/graphiql/');
    next();
  });
  // Everything else needs a key (but /health and /metrics), checked before any body is read.
  app.use(httpAuthMiddleware(app.get(ApiKeys), app.get(Metrics)));
  app.useBodyParser('json', { limit: MAX_BODY });
  app.useBodyParser('text', { type: ['application/x-ndjson', 'application/ndjson', 'text/plain'], limit: MAX_BODY });
  app.useGlobalPipes(new ValidationPipe({ transform: true, forbidUnknownValues: false }));
  await app.listen(runtime.settings.port, runtime.settings.host);
  return app;
}

/** The address an app listens on, as a base URL. */
export function baseUrl(app: INestApplication): string {
  const address = app.getHttpServer().address();
  if (address === null || typeof address === 'string') throw new Error('the app is not listening on a TCP port');
  return `http://127.0.0.1:${address.port}`;
}
