import type { ApolloServerPlugin } from '@apollo/server';
import type { Metrics } from '../ops/metrics.js';

/** Records each HTTP GraphQL request's latency, by operation type, in the metrics histogram. */
export function metricsPlugin(metrics: Metrics): ApolloServerPlugin {
  return {
    async requestDidStart() {
      const end = metrics.graphqlDuration.startTimer();
      return {
        async willSendResponse({ operation }) {
          end({ operation: operation?.operation ?? 'invalid' });
        },
      };
    },
  };
}
