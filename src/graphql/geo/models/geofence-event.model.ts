import { Field, Float, ObjectType } from '@nestjs/graphql';

@ObjectType({ description: 'A member entered or left a fence.' })
export class GeofenceEvent {
  @Field() index!: string;
  @Field() fence!: string;
  @Field() member!: string;
  @Field({ description: 'enter | exit' }) kind!: string;
  @Field(() => Float) lat!: number;
  @Field(() => Float) lon!: number;
  @Field() at!: Date;
}
