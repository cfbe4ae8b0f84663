import { Field, ObjectType } from '@nestjs/graphql';
import { GraphQLJSON } from 'graphql-type-json';
import type { VectorRead } from '../../../features/index.js';

@ObjectType({ description: 'The latest value of each field of a view for one entity, with the time of each.' })
export class FeatureVector {
  @Field() view!: string;
  @Field() entity!: string;
  @Field(() => GraphQLJSON, { description: 'Field name -> value; null for a field never set.' }) values!: Record<string, unknown>;
  @Field({ description: 'Event time of the newest update.' }) updatedAt!: Date;
  @Field(() => GraphQLJSON, { description: 'Field name -> event time (ISO-8601, UTC) of the update that set its value; null for a field never set.' })
  fieldTimes!: Record<string, string | null>;
}

export function toFeatureVectorModel(view: string, entity: string, read: VectorRead): FeatureVector {
  const fieldTimes: Record<string, string | null> = {};
  for (const field in read.fieldTimes) {
    const t = read.fieldTimes[field];
    fieldTimes[field] = t === null ? null : new Date(t).toISOString();
  }
  return { view, entity, values: read.values, updatedAt: new Date(read.updatedAt), fieldTimes };
}
