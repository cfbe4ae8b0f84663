import { Inject } from '@nestjs/common';
import { Args, Mutation, Resolver } from '@nestjs/graphql';
import { GraphQLJSON } from 'graphql-type-json';
import { EventIngest } from '../../ingest/event-ingest.js';
import { RequireRole } from '../../security/roles.js';
import { IngestResult } from './models/ingest-result.model.js';

@Resolver()
export class IngestResolver {
  constructor(@Inject(EventIngest) private readonly ingestion: EventIngest) {}

  @RequireRole('writer')
  @Mutation(() => IngestResult, { description: 'Applies events of one source (embedded mode, and alongside Kafka). In a cluster, produces them to the source topic keyed by the source\'s key field: `accepted` counts the events produced; their owners apply them asynchronously.' })
  ingest(@Args('source') source: string, @Args({ name: 'events', type: () => [GraphQLJSON] }) events: unknown[]): Promise<IngestResult> {
    return this.ingestion.ingest(source, events);
  }
}
