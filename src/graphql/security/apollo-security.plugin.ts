/**
 * Role, cost and rate of GraphQL operations on HTTP, as an Apollo Server plugin, at
 * didResolveOperation: after parsing and validation, with the request's variables, before
 * execution, so a refused operation runs no resolver. 403 for a role, 400 for the cost, 429
 * with Retry-After for the rate. The key itself was checked (401) before the body was read
 * (src/security/http-auth.ts), the structure before Apollo validated the document
 * (document-screen.ts).
 */
import type { ApolloServerPlugin, BaseContext } from '@apollo/server';
import { GraphQLError } from 'graphql';
import type { FastifyRequest } from 'fastify';
import { principalOf } from '../../security/http-auth.js';
import type { OperationGate } from './operation-gate.js';

interface HttpContext extends BaseContext {
  req?: FastifyRequest;
}

/** `admitted`: true for a request whose cost the gate already took (src/graphql/query-fast-path.ts). */
export function securityPlugin(gate: OperationGate, admitted: (req: FastifyRequest) => boolean = () => false): ApolloServerPlugin<HttpContext> {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ contextValue, document, operation, request, schema }) {
          if (operation === undefined) return; // execution answers "unknown operation" and runs nothing
          if (contextValue.req && admitted(contextValue.req)) return;
          const principal = contextValue.req && principalOf(contextValue.req);
          if (principal === undefined) {
            gate.refused('http', 'unauthenticated');
            throw new GraphQLError('an API key is required: Authorization: Bearer <key>', { extensions: { code: 'UNAUTHENTICATED', http: { status: 401 } } });
          }
          const refusal = gate.admit(principal, schema, document, operation, request.variables, 'http');
          if (refusal) throw refusal;
        },
      };
    },
  };
}
