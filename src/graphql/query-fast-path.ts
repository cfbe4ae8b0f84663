/**
 * QueryFastPath: answers `POST /graphql` queries whose document Apollo Server has already
 * parsed, validated and resolved, by running graphql-js `execute` from a Fastify preHandler
 * hook, without Apollo's per-request pipeline (a dozen async plugin hooks, a SHA-256 of the
 * text, content negotiation, header maps): a third of the server's CPU per 1 x 20
 * onlineFeatures request (test/bench/serving.bench.ts).
 *
 * The answer is the one Apollo sends: the same checks (the key was checked before the body
 * was read; role, cost and rate by the OperationGate), the same execution (the schema's
 * resolvers with the same context; Nest's guards, pipes and filters too, but for the fields
 * given to resolveDirectly, whose successful answers they do not change), the same body
 * (`{"data":...}`, with the `extensions` stale.plugin.ts adds while restoring or degraded, and
 * a newline), status, content type and latency histogram. Everything else goes on to Apollo as
 * before:
 *
 * - other methods and bodies: GET, batches, `extensions` (persisted queries), variables or an
 *   operation name of the wrong type, a content type other than JSON (Apollo's CSRF check),
 *   an `accept` header other than JSON or `*` (Apollo negotiates);
 * - documents Apollo has not resolved yet (the plugin below remembers those it has), and
 *   mutations;
 * - operations the gate would refuse: nothing is taken or counted here, Apollo's gate refuses
 *   them with its error;
 * - an execution that produced errors: queries only read, so Apollo runs the operation again
 *   and formats the errors as it always does; the gate lets it through without taking its cost
 *   a second time (`admitted`).
 */
import type { ApolloServerPlugin } from '@apollo/server';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { execute, type DocumentNode, type ExecutionResult, type GraphQLSchema, type OperationDefinitionNode } from 'graphql';
import type { IncomingMessage } from 'node:http';
import type { Health } from '../ops/health.js';
import type { Metrics } from '../ops/metrics.js';
import { principalOf } from '../security/http-auth.js';
import type { Role } from '../settings/settings.js';
import { requiredRole, type OperationGate } from './security/operation-gate.js';

/** Query texts remembered (the oldest is forgotten first), and the longest one remembered. */
const CAPACITY = 1_000;
const MAX_TEXT_LENGTH = 16 * 1024;

/** Apollo's content type for a JSON answer (no `accept`, or one preferring JSON). */
const JSON_CONTENT_TYPE = 'application/json; charset=utf-8';
/** `accept` headers for which Apollo answers JSON_CONTENT_TYPE. */
const JSON_ACCEPTS: ReadonlySet<string> = new Set(['*/*', 'application/json', 'application/json, */*']);

/** A query operation as Apollo resolved it, with what the gate needs that no variable changes. */
interface Resolved {
  schema: GraphQLSchema;
  document: DocumentNode;
  operation: OperationDefinitionNode;
  need: { role: Role; field: string };
}

export class QueryFastPath {
  /** query text -> operation name (null: none given) -> resolved operation */
  private readonly resolved = new Map<string, Map<string | null, Resolved>>();
  /** Requests admitted here, then left to Apollo (their execution produced errors). */
  private readonly admittedHere = new WeakSet<IncomingMessage>();
  /** Root query fields resolved here rather than through Nest (resolveDirectly). */
  private readonly direct = new Map<string, (args: Record<string, unknown>, context: unknown) => unknown>();
  /** Context values of the executions of this path (Apollo makes its own for each request). */
  private readonly contexts = new WeakSet<object>();
  /** The schema Apollo serves, once it has started. */
  private schema: GraphQLSchema | undefined;
  private serving = false;

  constructor(
    private readonly gate: OperationGate,
    private readonly metrics: Metrics,
    private readonly health: Health,
  ) {}

  /**
   * Resolves the root query field `field` with `resolve` on this path, instead of through
   * Nest's wrapping of its resolver method (guards, interceptors, pipes and filters: a chain of
   * a dozen promises, a sixth of what a 1 x 20 onlineFeatures request costs here). Only for
   * a field that none of those changes when it succeeds: an execution with errors is answered
   * by Apollo, through the wrapped method (see the header).
   */
  resolveDirectly(field: string, resolve: (args: Record<string, unknown>, context: unknown) => unknown): void {
    this.direct.set(field, resolve);
    if (this.schema) this.install(this.schema, field, resolve);
  }

  /** True when the gate already took this request's cost here (Apollo's gate must not again). */
  admitted(req: FastifyRequest): boolean {
    return this.admittedHere.has(req.raw);
  }

  /** Remembers the query operations Apollo resolves; serves while Apollo serves. */
  plugin(): ApolloServerPlugin {
    return {
      serverWillStart: async ({ schema }) => {
        this.schema = schema;
        for (const [field, resolve] of this.direct) this.install(schema, field, resolve);
        this.serving = true;
        return {
          serverWillStop: async () => {
            this.serving = false;
          },
        };
      },
      requestDidStart: async () => ({
        didResolveOperation: async ({ source, document, operation, request, schema }) => {
          if (operation?.operation === 'query') this.remember(source, request.operationName ?? null, { schema, document, operation, need: requiredRole(schema, document, operation) });
        },
      }),
    };
  }

  /** The preHandler hook: answers what it can (see the header), else hands on to Apollo. */
  readonly hook = (req: FastifyRequest, reply: FastifyReply, done: () => void): void => {
    if (!this.serving || req.method !== 'POST' || req.routeOptions.url !== '/graphql') return done();
    const body = req.body as { query?: unknown; operationName?: unknown; variables?: unknown; extensions?: unknown } | null;
    if (body === null || typeof body !== 'object' || typeof body.query !== 'string') return done();
    const { query, operationName, variables, extensions } = body;
    if (extensions != null || (operationName != null && typeof operationName !== 'string')) return done();
    if (variables != null && (typeof variables !== 'object' || Array.isArray(variables))) return done();
    if (!isJson(req.headers['content-type']) || (req.headers.accept !== undefined && !JSON_ACCEPTS.has(req.headers.accept))) return done();
    const op = this.resolved.get(query)?.get(operationName ?? null);
    if (op === undefined) return done();
    const end = this.metrics.graphqlDuration.startTimer();
    const principal = principalOf(req);
    const vars = (variables ?? undefined) as Record<string, unknown> | undefined;
    if (principal === undefined || !this.gate.tryAdmit(principal, op.schema, op.document, op.operation, vars, op.need)) return done();
    this.admittedHere.add(req.raw);
    const answer = (result: ExecutionResult): void => {
      if (result.errors !== undefined) return done(); // Apollo answers (see the header)
      let text: string;
      try {
        const stale = this.health.staleExtensions();
        text = JSON.stringify(stale === undefined ? { data: result.data } : { data: result.data, extensions: stale });
      } catch {
        return done(); // a value JSON cannot hold: Apollo reports it
      }
      end({ operation: 'query' });
      void reply.code(200).header('content-type', JSON_CONTENT_TYPE).send(`${text}\n`);
    };
    const contextValue = { req }; // as Nest's ApolloDriver makes it
    this.contexts.add(contextValue);
    let result: ReturnType<typeof execute>;
    try {
      result = execute({ schema: op.schema, document: op.document, contextValue, variableValues: vars, operationName: (operationName as string | null) ?? undefined });
    } catch {
      return done(); // execute throws only on an invalid schema or arguments: Apollo reports it
    }
    if ('then' in result) result.then(answer, () => done());
    else answer(result);
  };

  /**
   * Wraps the resolver of Query.`name` in place, as Apollo's own instrumentation does:
   * executions of this path call `direct`, all others (Apollo's, graphql-ws's) the resolver
   * Nest made.
   */
  private install(schema: GraphQLSchema, name: string, direct: (args: Record<string, unknown>, context: unknown) => unknown): void {
    const field = schema.getQueryType()?.getFields()[name];
    if (field?.resolve === undefined) throw new Error(`resolveDirectly: the schema has no resolver for Query.${name}`);
    const wrapped = field.resolve;
    field.resolve = (source, args, context, info) => (this.contexts.has(context as object) ? direct(args, context) : wrapped(source, args, context, info));
  }

  private remember(text: string, operationName: string | null, op: Resolved): void {
    if (text.length > MAX_TEXT_LENGTH) return;
    let byName = this.resolved.get(text);
    if (byName === undefined) {
      if (this.resolved.size >= CAPACITY) this.resolved.delete(this.resolved.keys().next().value!);
      byName = new Map();
      this.resolved.set(text, byName);
    }
    byName.set(operationName, op);
  }
}

/** A JSON content type (not one of the types a form can send, which Apollo's CSRF check refuses). */
function isJson(contentType: string | undefined): boolean {
  if (contentType === undefined) return false;
  const semi = contentType.indexOf(';');
  return (semi < 0 ? contentType : contentType.slice(0, semi)).trim().toLowerCase() === 'application/json';
}

