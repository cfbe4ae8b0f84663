import { Field, ObjectType } from '@nestjs/graphql';
import { DateTimeScalar } from '../../scalars/date-time.scalar.js';
import { GraphQLJSON } from 'graphql-type-json';
import type { OnlineRow } from '../../../features/index.js';

@ObjectType({ description: 'Feature values of one entity, in the order of the requested names.' })
export class FeatureRow {
  @Field() entity!: string;
  @Field(() => [GraphQLJSON], { nullable: 'items' }) values!: unknown[];
  @Field(() => [DateTimeScalar], { nullable: 'items', description: 'Per value, the event time it reflects.' }) freshness!: (Date | null)[];
  @Field(() => String, { nullable: true, description: 'The served-feature log record of this answer (when logged): join training labels on it.' }) requestId?: string | null;
}

/** A Date that keeps its ISO string once serialised. */
class EventTime extends Date {
  private iso: string | undefined;

  override toISOString(): string {
    return (this.iso ??= super.toISOString());
  }
}

/**
 * A row's freshness repeats a few event times (the newest event of each source of its
 * features): runs of the same time share one EventTime, so each is turned into text once
 * rather than once per value (toISOString was the largest single cost of serialising a
 * 1 x 20 row).
 */
export function toFeatureRowModel(row: OnlineRow, requestId?: string): FeatureRow {
  const freshness = new Array<Date | null>(row.freshness.length);
  let last: EventTime | undefined;
  for (let i = 0; i < freshness.length; i++) {
    const t = row.freshness[i];
    freshness[i] = t === null ? null : last !== undefined && last.getTime() === t ? last : (last = new EventTime(t));
  }
  return requestId === undefined ? { entity: row.entity, values: row.values, freshness } : { entity: row.entity, values: row.values, freshness, requestId };
}
