// GraphiQL at /graphiql, bundled at build time (no CDN): queries over HTTP, subscriptions over
// graphql-ws on the same /graphql path. The API key saved by the dashboard is sent as
// `Authorization: Bearer` on HTTP and in the graphql-ws connection_init payload.
import { createGraphiQLFetcher } from '@graphiql/toolkit';
import { GraphiQL } from 'graphiql';
import 'graphiql/style.css';
import { createClient } from 'graphql-ws';
import { createRoot } from 'react-dom/client';
import { bearer, loadApiKey, wsUrl } from '../src/api-key.js';
import './graphiql-page.css';

// Monaco runs its language services in workers, built next to this file (see scripts/build-web.ts).
const WORKERS: Record<string, string> = { json: 'json.worker.js', graphql: 'graphql.worker.js' };
(globalThis as { MonacoEnvironment?: unknown }).MonacoEnvironment = {
  getWorker(_workerId: string, label: string): Worker {
    return new Worker(new URL(`./${WORKERS[label] ?? 'editor.worker.js'}`, import.meta.url));
  },
};

const DEFAULT_QUERY = `# Tally's GraphQL API. Ctrl-Enter runs the operation under the cursor;
# subscriptions stream over graphql-ws. The schema is in the Docs panel (book icon).

query Pipeline {
  pipeline {
    features { name aggregation windows }
    leaderboards { name period }
    geoIndexes { name members fences { name kind } }
  }
  stats { mode eventsAccepted eventsRejected consumerLag }
}

# subscription TopPlayers {
#   leaderboardChanged(name: "top_players", top: 5) { rank member score }
# }
`;

const authorization = bearer(loadApiKey());
const headers: Record<string, string> = authorization ? { authorization } : {};
const fetcher = createGraphiQLFetcher({
  url: '/graphql',
  headers,
  wsClient: createClient({ url: wsUrl(), lazy: true, connectionParams: () => (authorization ? { authorization } : {}) }),
});

const params = new URLSearchParams(location.search);
const root = document.getElementById('graphiql');
if (root) {
  createRoot(root).render(
    <GraphiQL fetcher={fetcher} defaultQuery={DEFAULT_QUERY} initialQuery={params.get('query') ?? undefined} defaultTheme="dark">
      <GraphiQL.Logo>
        <a className="tally-logo" href="../" title="Back to the dashboard">
          Tally
        </a>
      </GraphiQL.Logo>
    </GraphiQL>,
  );
}
