import { Field, Int, ObjectType } from '@nestjs/graphql';

@ObjectType({ description: 'Why one event of an ingest call was refused.' })
export class IngestError {
  @Field(() => Int, { description: 'Position of the event in the request (0-based).' }) index!: number;
  @Field({ description: '`<reason>: <detail>`, e.g. `missing-field: missing entity field "card_id"`.' }) message!: string;
}

@ObjectType()
export class IngestResult {
  @Field(() => Int) accepted!: number;
  @Field(() => Int) rejected!: number;
  @Field(() => [IngestError], { description: 'The first 100 refusals; the counts stay exact.' }) errors!: IngestError[];
}
