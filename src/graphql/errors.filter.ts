import { Catch, type ArgumentsHost } from '@nestjs/common';
import type { GqlExceptionFilter } from '@nestjs/graphql';
import { GraphQLError } from 'graphql';
import { UnknownFeatureError } from '../features/index.js';
import { UnknownNameError } from './errors.js';

/** Turns "unknown name" and out-of-range errors into GraphQL input errors that keep the message. */
@Catch(UnknownFeatureError, UnknownNameError, RangeError)
export class InputErrorFilter implements GqlExceptionFilter {
  catch(error: Error, _host: ArgumentsHost): GraphQLError {
    return new GraphQLError(error.message, { extensions: { code: 'BAD_USER_INPUT' } });
  }
}
