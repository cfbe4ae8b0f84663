import { Field, Float, ObjectType } from '@nestjs/graphql';
import type { StateDigest } from '../../../durability/digest.js';

@ObjectType('StoreDigest', { description: "The digest of one store's observable state." })
export class StoreDigestModel {
  @Field({ description: 'feature, view, leaderboard or geo.' }) kind!: string;
  @Field() name!: string;
  @Field(() => Float, { description: 'Entities, members or (leaderboards) member-period entries digested.' }) entries!: number;
  @Field({ description: 'SHA-256, hex.' }) digest!: string;
}

@ObjectType('StateDigest', { description: 'SHA-256 digests of every store as read at `at`: equal digests, equal state.' })
export class StateDigestModel {
  @Field({ description: 'Over every store digest, in order.' }) digest!: string;
  @Field() at!: Date;
  @Field({ description: 'Of the event-time watermarks.' }) watermarks!: string;
  @Field(() => [StoreDigestModel]) stores!: StoreDigestModel[];
}

export function toStateDigestModel(d: StateDigest): StateDigestModel {
  return { digest: d.digest, at: new Date(d.at), watermarks: d.watermarks, stores: d.stores };
}
