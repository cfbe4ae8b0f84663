import { Field, ObjectType } from '@nestjs/graphql';
import { GraphQLJSON } from 'graphql-type-json';
import type { VectorRead } from '../../../features/index.js';

@ObjectType({ description: 'The latest value of each field of a view for one entity.' })
export class FeatureVector {
  @Field() view!: string;
  @Field() entity!: string;
  @Field(() => GraphQLJSON, { description: 'Field name -> value; null for a field never set.' }) values!: Record<string, unknown>;
  @Field({ description: 'Event time of the newest update.' }) updatedAt!: Date;
}

export function toFeatureVectorModel(view: string, entity: string, read: VectorRead): FeatureVector {
  return { view, entity, values: read.values, updatedAt: new Date(read.updatedAt) };
}
