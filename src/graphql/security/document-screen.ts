/**
 * Structural limits of GraphQL documents on HTTP, applied to `/graphql` requests after the
 * body is read and before Apollo parses and validates them (a Fastify preValidation hook,
 * installed by bootstrap.ts): Apollo's standard validation includes a rule that is quadratic
 * in repeated fields, and its plugins cannot refuse a request before validation. The token
 * limit bounds this parse as it bounds Apollo's. Documents that passed are remembered (LRU by
 * text), since structure does not depend on variables. Role, cost and rate are checked later,
 * per operation (apollo-security.plugin.ts).
 */
import { Inject, Injectable } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { GraphQLError, parse } from 'graphql';
import type { Settings } from '../../settings/settings.js';
import { SETTINGS } from '../../settings/tokens.js';
import { isTokenLimitError, tokenLimitError } from './document-limits.js';
import { OperationGate } from './operation-gate.js';

/** Documents remembered as passing, and the longest one remembered. */
const PASSED_CAPACITY = 1_000;
const PASSED_MAX_LENGTH = 16 * 1024;

@Injectable()
export class DocumentScreen {
  private readonly passed = new Set<string>();

  constructor(
    @Inject(OperationGate) private readonly gate: OperationGate,
    @Inject(SETTINGS) private readonly settings: Settings,
  ) {}

  /** The preValidation hook: refuses a `/graphql` document past the limits with 400. */
  readonly hook = (req: FastifyRequest, reply: FastifyReply, done: () => void): void => {
    if (req.routeOptions.url !== '/graphql') return done();
    const query = queryOf(req);
    // No document (or a batch, or a text body): Apollo answers with its own error.
    if (query === undefined || this.passed.has(query)) return done();
    let errors: GraphQLError[];
    try {
      errors = this.gate.screen(parse(query, { maxTokens: this.settings.limits.maxTokens }), 'http');
    } catch (err) {
      if (!isTokenLimitError(err)) return done(); // a syntax error: Apollo reports it
      this.gate.refused('http', 'too-many-tokens');
      errors = [tokenLimitError(err)];
    }
    if (errors.length > 0) {
      reply.code(400).send({ errors: errors.map((e) => ({ message: e.message, extensions: { code: e.extensions.code } })) });
      return;
    }
    if (query.length <= PASSED_MAX_LENGTH) {
      if (this.passed.size >= PASSED_CAPACITY) this.passed.delete(this.passed.values().next().value!);
      this.passed.add(query);
    }
    done();
  };
}

function queryOf(req: FastifyRequest): string | undefined {
  const source: unknown = req.method === 'GET' ? (req.query as { query?: unknown } | undefined)?.query : req.body;
  if (typeof source === 'string') return req.method === 'GET' ? source : undefined;
  if (source !== null && typeof source === 'object' && !Array.isArray(source)) {
    const q = (source as { query?: unknown }).query;
    return typeof q === 'string' ? q : undefined;
  }
  return undefined;
}
