import { BadRequestException, Catch, HttpException, Inject, type ArgumentsHost } from '@nestjs/common';
import { BaseExceptionFilter } from '@nestjs/core';
import type { GqlContextType } from '@nestjs/graphql';
import { GraphQLError } from 'graphql';
import { IngestClosedError } from '../ingest/event-ingest.js';
import { InputError } from '../input-error.js';
import type { Logger } from '../ops/logger.js';
import { Metrics } from '../ops/metrics.js';
import { LOGGER } from '../settings/tokens.js';

/** What a client sees of a failure inside Tally: nothing of its internals. */
export const INTERNAL_ERROR_MESSAGE = 'Internal server error (logged; the request may be retried)';

/**
 * Every error a GraphQL resolver throws, sorted by whose fault it is:
 * - InputError (unknown names, arguments out of range: src/input-error.ts) -> `BAD_USER_INPUT`
 *   with its message;
 * - errors already shaped for the client (GraphQLError with a code, Nest's HttpException from
 *   argument validation) pass as they are; ingest closed -> `UNAVAILABLE`;
 * - anything else (a RangeError inside an engine, a stack overflow, a defect) is Tally's own
 *   failure: `INTERNAL_SERVER_ERROR` with a generic message, logged with its stack and counted
 *   in `tally_internal_errors_total{where="graphql"}`.
 * On HTTP routes (ingest, health) Nest's own handling applies, with InputError as 400.
 */
@Catch()
export class InputErrorFilter extends BaseExceptionFilter {
  constructor(
    @Inject(Metrics) private readonly metrics: Metrics,
    @Inject(LOGGER) private readonly log: Logger,
  ) {
    super();
  }

  override catch(error: unknown, host: ArgumentsHost): unknown {
    if (host.getType<GqlContextType>() !== 'graphql') {
      return super.catch(error instanceof InputError ? new BadRequestException(error.message) : error, host);
    }
    if (error instanceof InputError) return new GraphQLError(error.message, { extensions: { code: 'BAD_USER_INPUT' } });
    if (error instanceof IngestClosedError) return new GraphQLError(error.message, { extensions: { code: 'UNAVAILABLE' } });
    if (error instanceof GraphQLError || error instanceof HttpException) return error;
    this.metrics.internalErrors.inc({ where: 'graphql' });
    const info = host.getArgByIndex(3) as { fieldName?: string } | undefined;
    this.log.error({ field: info?.fieldName, error: error instanceof Error ? (error.stack ?? error.message) : String(error) }, 'GraphQL resolver failed');
    return new GraphQLError(INTERNAL_ERROR_MESSAGE, { extensions: { code: 'INTERNAL_SERVER_ERROR' } });
  }
}
