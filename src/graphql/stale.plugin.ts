import type { ApolloServerPlugin } from '@apollo/server';
import type { Health } from '../ops/health.js';

/**
 * While answers may be out of date — the state being restored (a snapshot loading, logs
 * replaying, Kafka catching up), or Kafka not read (broker gone, consumer stalled, catching up
 * after an outage) — they carry `extensions.stale: true`, and with Kafka degraded
 * `extensions.lastFetchAt`, the time of the last fetch response. The fast path
 * (query-fast-path.ts) adds the same, from the same Health.staleExtensions().
 */
export function stalePlugin(health: Health): ApolloServerPlugin {
  return {
    async requestDidStart() {
      return {
        async willSendResponse({ response }) {
          const stale = health.staleExtensions();
          if (stale === undefined || response.body.kind !== 'single') return;
          const result = response.body.singleResult;
          result.extensions = { ...result.extensions, ...stale };
        },
      };
    },
  };
}
