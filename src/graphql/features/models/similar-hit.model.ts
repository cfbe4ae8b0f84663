import { Field, Float, ObjectType } from '@nestjs/graphql';

@ObjectType({ description: 'One entity found by similar: its distance to the query (smaller = nearer).' })
export class SimilarHit {
  @Field() entity!: string;
  @Field(() => Float, { description: 'cosine: 1 - cosine similarity; l2: Euclidean distance; ip: 1 - inner product. Exact (float32), also when the index is approximate.' })
  distance!: number;
}
