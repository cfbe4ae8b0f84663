import { Field, Float, ObjectType } from '@nestjs/graphql';
import type { WindowRead } from '../../../features/index.js';

@ObjectType({ description: 'One window of one feature for one entity, as of `asOf`.' })
export class FeatureValue {
  @Field() name!: string;
  @Field() entity!: string;
  @Field({ description: 'As written in the pipeline: 1m, 1h, lifetime.' }) window!: string;
  @Field(() => Float, { nullable: true, description: 'Null when the window holds no event (count gives 0).' }) value!: number | null;
  @Field({ description: 'The time the value was read for.' }) asOf!: Date;
  @Field(() => Date, { nullable: true, description: "Event time of the entity's newest event." }) lastEventAt!: Date | null;
}

export function toFeatureValueModel(name: string, entity: string, window: string, read: WindowRead, now: number): FeatureValue {
  return { name, entity, window, value: read.value, asOf: new Date(now), lastEventAt: read.lastEventAt === null ? null : new Date(read.lastEventAt) };
}
