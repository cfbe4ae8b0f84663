import { Field, Float, ObjectType } from '@nestjs/graphql';
import type { Crossing, ThresholdWatch } from '../../../features/index.js';

@ObjectType({ description: "An entity's window value crossed a threshold: rose above `above`, or dropped under `below`." })
export class ThresholdCrossing {
  @Field() name!: string;
  @Field() entity!: string;
  @Field() window!: string;
  @Field(() => Float, { description: 'The window value that crossed (a drained count is 0).' }) value!: number;
  @Field() at!: Date;
  @Field({ description: '`above` (the value rose above the threshold) or `below` (it dropped under it).' }) direction!: string;
  @Field(() => Float, { description: 'The threshold crossed: the subscription\'s `above` or `below`.' }) threshold!: number;
}

export function toThresholdCrossingModel(name: string, window: string, watch: ThresholdWatch, c: Crossing, now: number): ThresholdCrossing {
  return { name, entity: c.entity, window, value: c.value, at: new Date(now), direction: watch.direction, threshold: watch.threshold };
}
