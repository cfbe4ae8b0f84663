import { Field, Float, ObjectType } from '@nestjs/graphql';
import type { TopItem as EngineTopItem, WindowRead } from '../../../features/index.js';

@ObjectType({ description: "One of a topk window's heaviest items: its true count (or weight) lies in [count - error, count]." })
export class TopItem {
  @Field({ description: "The item: the value of the feature's field (a number as text)." }) item!: string;
  @Field(() => Float, { description: 'Events of the item in the window, or the sum of their weights: an upper bound, exact when error is 0.' }) count!: number;
  @Field(() => Float, { description: 'How much count may exceed the true value (0: exact).' }) error!: number;
}

@ObjectType({ description: 'One window of one feature for one entity, as of `asOf`.' })
export class FeatureValue {
  @Field() name!: string;
  @Field() entity!: string;
  @Field({ description: 'As written in the pipeline: 1m, 1h, lifetime.' }) window!: string;
  @Field(() => Float, { nullable: true, description: "Null when the window holds no event (count gives 0). For topk, the heaviest item's count." }) value!: number | null;
  @Field({ description: 'The time the value was read for.' }) asOf!: Date;
  @Field(() => Date, { nullable: true, description: "Event time of the entity's newest event." }) lastEventAt!: Date | null;
  @Field(() => [TopItem], { nullable: true, description: 'topk features: the heaviest items, heaviest first (ties by item), at most k; empty when the window holds no event. Null for other aggregations.' })
  top!: EngineTopItem[] | null;
  @Field(() => Float, { nullable: true, description: 'topk features: every item not in `top` has a true count (or weight) of at most this (0: `top` lists every item, exactly). Null for other aggregations.' })
  unlistedAtMost!: number | null;
}

export function toFeatureValueModel(name: string, entity: string, window: string, read: WindowRead, now: number): FeatureValue {
  return {
    name,
    entity,
    window,
    value: read.value,
    asOf: new Date(now),
    lastEventAt: read.lastEventAt === null ? null : new Date(read.lastEventAt),
    top: read.top?.items ?? null,
    unlistedAtMost: read.top?.unlistedAtMost ?? null,
  };
}
