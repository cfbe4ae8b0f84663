import { Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import type { Settings } from '../settings/settings.js';
import { SETTINGS } from '../settings/tokens.js';
import { ApiKeys } from './api-keys.js';
import { HttpRoleGuard } from './http-auth.js';
import { RateLimiter } from './rate-limiter.js';

/**
 * API keys, the per-key rate limiter and the role guard of HTTP routes. The key check
 * (httpAuthHook, a Fastify onRequest hook) is installed by bootstrap.ts, before any body is read.
 */
@Module({
  providers: [
    { provide: ApiKeys, useFactory: (s: Settings) => new ApiKeys(s.apiKeys), inject: [SETTINGS] },
    // The bucket holds one second's worth, and at least one operation of the largest allowed cost.
    { provide: RateLimiter, useFactory: (s: Settings) => new RateLimiter(s.limits.rateLimit, Math.max(s.limits.rateLimit, s.limits.maxCost)), inject: [SETTINGS] },
    { provide: APP_GUARD, useClass: HttpRoleGuard },
  ],
  exports: [ApiKeys, RateLimiter],
})
export class SecurityModule {}
