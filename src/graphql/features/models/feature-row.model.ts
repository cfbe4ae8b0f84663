import { Field, GraphQLISODateTime, ObjectType } from '@nestjs/graphql';
import { GraphQLJSON } from 'graphql-type-json';
import type { OnlineRow } from '../../../features/index.js';

@ObjectType({ description: 'Feature values of one entity, in the order of the requested names.' })
export class FeatureRow {
  @Field() entity!: string;
  @Field(() => [GraphQLJSON], { nullable: 'items' }) values!: unknown[];
  @Field(() => [GraphQLISODateTime], { nullable: 'items', description: 'Per value, the event time it reflects.' }) freshness!: (Date | null)[];
}

export function toFeatureRowModel(row: OnlineRow): FeatureRow {
  return { entity: row.entity, values: row.values, freshness: row.freshness.map((t) => (t === null ? null : new Date(t))) };
}
