/**
 * What each role may do. Reads (GraphQL queries and subscriptions, HTTP GET) need `reader`;
 * anything else needs `admin` unless marked otherwise, so an operation added without a mark
 * is closed rather than open. Mark a resolver method or a controller method:
 *
 *   @RequireRole('writer') @Mutation(() => IngestResult) ingest(...)
 *   @RequireRole('admin') @Post('snapshot') snapshot()
 *
 * On GraphQL the role travels as a field extension of the root field, checked before the
 * operation runs (src/graphql/security); on HTTP as route metadata read by HttpRoleGuard.
 */
import { applyDecorators, SetMetadata } from '@nestjs/common';
import { Extensions } from '@nestjs/graphql';
import type { Role } from '../settings/settings.js';

/** Route metadata key (HTTP controllers). */
export const ROLE_METADATA = 'tally:role';
/** Field extension key (GraphQL root fields). */
export const ROLE_EXTENSION = 'tallyRole';

/** Marks a resolver or controller method as needing `role` (or a higher one). */
export function RequireRole(role: Role): MethodDecorator {
  return applyDecorators(SetMetadata(ROLE_METADATA, role), Extensions({ [ROLE_EXTENSION]: role })) as MethodDecorator;
}

/** Role a GraphQL root field needs when it carries no mark. */
export function defaultGraphqlRole(operation: 'query' | 'mutation' | 'subscription'): Role {
  return operation === 'mutation' ? 'admin' : 'reader';
}

/** Role an HTTP route needs when it carries no mark. */
export function defaultHttpRole(method: string): Role {
  return method === 'GET' || method === 'HEAD' ? 'reader' : 'admin';
}
