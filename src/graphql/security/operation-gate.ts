/**
 * OperationGate: the checks every GraphQL operation passes before anything of it runs, the
 * same on HTTP (apollo-security.plugin.ts) and WebSocket (ws-security.ts):
 *
 *   1. structure (depth, aliases, repeated fields) -- before the standard validation;
 *   2. role: each root field needs the role its resolver is marked with (RequireRole) or the
 *      default of its operation type (queries and subscriptions: reader; mutations: admin);
 *   3. cost, against TALLY_GRAPHQL_MAX_COST;
 *   4. rate: the cost is taken from the principal's token bucket.
 *
 * Each refusal is a GraphQLError whose `extensions.code` says why, counted in
 * tally_requests_refused_total{transport, reason}.
 */
import { GraphQLError, Kind, type DocumentNode, type GraphQLSchema, type OperationDefinitionNode, type SelectionSetNode } from 'graphql';
import type { Metrics } from '../../ops/metrics.js';
import { allows, type Principal } from '../../security/api-keys.js';
import type { RateLimiter } from '../../security/rate-limiter.js';
import { defaultGraphqlRole, ROLE_EXTENSION } from '../../security/roles.js';
import type { Limits } from '../../settings/limits.js';
import type { Role } from '../../settings/settings.js';
import { checkStructure, limitError, operationCost } from './document-limits.js';

export type Transport = 'http' | 'ws';

export class OperationGate {
  constructor(
    private readonly limits: Limits,
    private readonly rate: RateLimiter,
    private readonly metrics: Metrics,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Structural limits of the whole document; empty when it passes. */
  screen(document: DocumentNode, transport: Transport): GraphQLError[] {
    const errors = checkStructure(document, this.limits);
    for (const e of errors) this.refused(transport, String(e.extensions.reason));
    return errors;
  }

  /**
   * Role, cost and rate of the operation about to run; undefined when it may run (its cost
   * is then taken from the principal's bucket), else the refusal.
   */
  admit(principal: Principal, schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode, variables: Record<string, unknown> | undefined, transport: Transport): GraphQLError | undefined {
    const need = requiredRole(schema, document, operation);
    if (!allows(principal.role, need.role)) {
      this.refused(transport, 'forbidden');
      return new GraphQLError(`this key's role (${principal.role}) may not run ${need.field}; it needs ${need.role}`, {
        extensions: { code: 'FORBIDDEN', http: { status: 403 } },
      });
    }
    const cost = operationCost(schema, document, operation, variables);
    if (cost > this.limits.maxCost) {
      this.refused(transport, 'too-costly');
      return withStatus(limitError('too-costly', `the operation costs ${cost > 1e15 ? 'more than 10^15' : cost}; at most ${this.limits.maxCost} (each field counts once per item its arguments ask for)`), 400);
    }
    const wait = this.rate.take(principal.id, cost, this.clock());
    if (wait > 0) {
      this.refused(transport, 'rate-limited');
      const seconds = Math.ceil(wait / 1000);
      return new GraphQLError(`rate limit: this key may spend ${this.rate.rate} cost units per second; retry in ${seconds} s`, {
        extensions: { code: 'RATE_LIMITED', retryAfterSeconds: seconds, http: { status: 429, headers: new Map([['retry-after', String(seconds)]]) } },
      });
    }
    return undefined;
  }

  /**
   * admit without a refusal, for a caller that can leave a refused operation to admit: when
   * admit would let the operation run, takes its cost and returns true; otherwise returns
   * false having taken and counted nothing. `need` is requiredRole's answer, which does not
   * depend on the variables (a caller may keep it with the document).
   */
  tryAdmit(principal: Principal, schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode, variables: Record<string, unknown> | undefined, need = requiredRole(schema, document, operation)): boolean {
    if (!allows(principal.role, need.role)) return false;
    const cost = operationCost(schema, document, operation, variables);
    if (cost > this.limits.maxCost) return false;
    return this.rate.take(principal.id, cost, this.clock()) === 0;
  }

  refused(transport: Transport, reason: string): void {
    this.metrics.requestsRefused.inc({ transport, reason });
  }
}

/** Gives a GraphQLError an HTTP status for Apollo (ignored on WebSocket). */
export function withStatus(error: GraphQLError, status: number): GraphQLError {
  return new GraphQLError(error.message, { extensions: { ...error.extensions, http: { status } } });
}

/** The highest role the root fields of `operation` need, and the first field needing it. */
export function requiredRole(schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode): { role: Role; field: string } {
  const root = schema.getRootType(operation.operation);
  const fields = root?.getFields() ?? {};
  const fallback = defaultGraphqlRole(operation.operation);
  let need: { role: Role; field: string } = { role: 'reader', field: operation.operation };
  for (const name of rootFieldNames(document, operation.selectionSet)) {
    // Introspection and __typename are reads; unknown fields fail validation, never run.
    const role = name.startsWith('__') ? 'reader' : ((fields[name]?.extensions?.[ROLE_EXTENSION] as Role | undefined) ?? fallback);
    if (!allows(need.role, role)) need = { role, field: `${operation.operation} field "${name}"` };
  }
  return need;
}

/** Names of the fields selected at the root, through fragments. */
function rootFieldNames(document: DocumentNode, set: SelectionSetNode, seen = new Set<string>()): Set<string> {
  const names = new Set<string>();
  for (const sel of set.selections) {
    if (sel.kind === Kind.FIELD) names.add(sel.name.value);
    else if (sel.kind === Kind.INLINE_FRAGMENT) for (const n of rootFieldNames(document, sel.selectionSet, seen)) names.add(n);
    else if (!seen.has(sel.name.value)) {
      seen.add(sel.name.value);
      const def = document.definitions.find((d) => d.kind === Kind.FRAGMENT_DEFINITION && d.name.value === sel.name.value);
      if (def?.kind === Kind.FRAGMENT_DEFINITION) for (const n of rootFieldNames(document, def.selectionSet, seen)) names.add(n);
    }
  }
  return names;
}
