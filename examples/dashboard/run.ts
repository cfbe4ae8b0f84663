// Runs one operation of queries.graphql by name and prints the answer: a query once over HTTP,
// a subscription as a stream over graphql-ws until Ctrl-C.
//
//   npx tsx examples/dashboard/run.ts                       # lists the operations
//   npx tsx examples/dashboard/run.ts CardOverview '{"cards": ["card-0007"]}'
//   npx tsx examples/dashboard/run.ts SpendAlerts '{"above": 500}'
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Kind, parse, type OperationDefinitionNode } from 'graphql';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { endpointFromEnv, isMain } from '../lib/tally-client.js';

export const QUERIES_PATH = fileURLToPath(new URL('./queries.graphql', import.meta.url));

/** The named operations of queries.graphql with their kind (query or subscription). */
export function operations(text = readFileSync(QUERIES_PATH, 'utf8')): { name: string; kind: string }[] {
  return parse(text)
    .definitions.filter((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION)
    .map((d) => ({ name: d.name?.value ?? '(anonymous)', kind: d.operation }));
}

async function main(argv: string[]): Promise<void> {
  const text = readFileSync(QUERIES_PATH, 'utf8');
  const ops = operations(text);
  const [name, vars] = argv;
  const op = ops.find((o) => o.name === name);
  if (!op) {
    console.log(`usage: npx tsx examples/dashboard/run.ts <operation> ['<variables as JSON>']\noperations:\n${ops.map((o) => `  ${o.name} (${o.kind})`).join('\n')}`);
    process.exit(name ? 2 : 0);
  }
  const variables = vars ? (JSON.parse(vars) as Record<string, unknown>) : {};
  const endpoint = endpointFromEnv();
  if (op.kind !== 'subscription') {
    // The whole document with operationName, as a dashboard would send it.
    const res = await fetch(`${endpoint.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(endpoint.apiKey ? { authorization: `Bearer ${endpoint.apiKey}` } : {}) },
      body: JSON.stringify({ query: text, operationName: name, variables }),
    });
    console.log(JSON.stringify(await res.json(), null, 2));
    return;
  }
  const client = createClient({
    url: `${endpoint.url.replace(/^http/, 'ws')}/graphql`,
    webSocketImpl: WebSocket,
    connectionParams: endpoint.apiKey ? { authorization: `Bearer ${endpoint.apiKey}` } : undefined,
  });
  process.on('SIGINT', () => void Promise.resolve(client.dispose()).then(() => process.exit(0)));
  console.error(`streaming ${name}; Ctrl-C to stop`);
  for await (const msg of client.iterate({ query: text, operationName: name, variables })) console.log(JSON.stringify(msg.data ?? msg.errors));
}

if (isMain(import.meta.url)) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`dashboard: ${err instanceof Error ? err.message : JSON.stringify(err)}\n`);
    process.exit(1);
  });
}
