import type { ArgumentsHost } from '@nestjs/common';
import { BadRequestException } from '@nestjs/common';
import { GraphQLError } from 'graphql';
import { pino } from 'pino';
import { UnknownFeatureError } from '../features/index.js';
import { IngestClosedError } from '../ingest/event-ingest.js';
import { InputError } from '../input-error.js';
import { Metrics } from '../ops/metrics.js';
import { INTERNAL_ERROR_MESSAGE, InputErrorFilter } from './errors.filter.js';
import { UnknownNameError } from './errors.js';

const graphqlHost = { getType: () => 'graphql', getArgByIndex: () => ({ fieldName: 'feature' }) } as unknown as ArgumentsHost;

describe(InputErrorFilter.name, () => {
  let lines: string[];
  let metrics: Metrics;
  let sut: InputErrorFilter;
  beforeEach(() => {
    lines = [];
    metrics = new Metrics();
    sut = new InputErrorFilter(metrics, pino({ level: 'error' }, { write: (l: string) => lines.push(l) }));
  });
  const internal = async () => (await metrics.registry.getSingleMetric('tally_internal_errors_total')!.get()).values.find((v) => v.labels.where === 'graphql')?.value ?? 0;

  it.each([new InputError('bad period'), new UnknownFeatureError('unknown feature "x"'), new UnknownNameError('unknown leaderboard "y"')])('shows the caller its bad input: %s', async (error) => {
    const out = sut.catch(error, graphqlHost) as GraphQLError;
    expect(out).toBeInstanceOf(GraphQLError);
    expect(out.message).toBe(error.message);
    expect(out.extensions.code).toBe('BAD_USER_INPUT');
    expect(await internal()).toBe(0);
  });

  it.each([new RangeError('Invalid array length'), new RangeError('Maximum call stack size exceeded'), new TypeError("Cannot read properties of undefined (reading 'x')"), new Error('a sorted set holds at most 2^31 members')])(
    'hides an internal failure, logs its stack and counts it: %s',
    async (error) => {
      const out = sut.catch(error, graphqlHost) as GraphQLError;
      expect(out.message).toBe(INTERNAL_ERROR_MESSAGE);
      expect(out.extensions.code).toBe('INTERNAL_SERVER_ERROR');
      expect(lines).toHaveLength(1);
      expect(JSON.parse(lines[0])).toMatchObject({ field: 'feature', error: expect.stringContaining(error.message) });
      expect(await internal()).toBe(1);
    },
  );

  it('passes errors already shaped for the client, and says when ingest is closed', () => {
    const shaped = new GraphQLError('too costly', { extensions: { code: 'TOO_COSTLY' } });
    expect(sut.catch(shaped, graphqlHost)).toBe(shaped);
    const validation = new BadRequestException('limit must not be greater than 1000');
    expect(sut.catch(validation, graphqlHost)).toBe(validation);
    expect((sut.catch(new IngestClosedError(), graphqlHost) as GraphQLError).extensions.code).toBe('UNAVAILABLE');
  });
});
