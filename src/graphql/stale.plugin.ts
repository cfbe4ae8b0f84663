import type { ApolloServerPlugin } from '@apollo/server';
import type { Health } from '../ops/health.js';

/**
 * While the state is being restored (a snapshot loading, logs replaying, Kafka catching up),
 * answers carry `extensions.stale: true`: values are served from what is loaded so far.
 */
export function stalePlugin(health: Health): ApolloServerPlugin {
  return {
    async requestDidStart() {
      return {
        async willSendResponse({ response }) {
          if (health.status === 'ok' || response.body.kind !== 'single') return;
          const result = response.body.singleResult;
          result.extensions = { ...result.extensions, stale: true };
        },
      };
    },
  };
}
