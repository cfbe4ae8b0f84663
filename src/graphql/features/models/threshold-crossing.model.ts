import { Field, Float, ObjectType } from '@nestjs/graphql';

@ObjectType({ description: "An entity's window value crossed above a threshold." })
export class ThresholdCrossing {
  @Field() name!: string;
  @Field() entity!: string;
  @Field() window!: string;
  @Field(() => Float) value!: number;
  @Field() at!: Date;
}
