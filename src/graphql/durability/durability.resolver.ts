import { Inject } from '@nestjs/common';
import { Args, Mutation, Query, Resolver } from '@nestjs/graphql';
import { Durability } from '../../durability/durability.module.js';
import { RequireRole } from '../../security/roles.js';
import { SnapshotResult, toSnapshotResultModel } from './models/snapshot-result.model.js';
import { StateDigestModel, toStateDigestModel } from './models/state-digest.model.js';

@Resolver()
export class DurabilityResolver {
  constructor(@Inject(Durability) private readonly durability: Durability) {}

  @RequireRole('admin')
  @Mutation(() => SnapshotResult, { description: 'Writes a snapshot of every store with its source offsets now, and answers what was written (admin).' })
  async snapshot(): Promise<SnapshotResult> {
    return toSnapshotResultModel(await this.durability.snapshot('admin'));
  }

  @RequireRole('admin')
  @Query(() => StateDigestModel, { description: 'Digests of every store as read at `at` (default now), to compare two instances or a restart with its model (admin).' })
  async digest(@Args('at', { type: () => Date, nullable: true }) at?: Date): Promise<StateDigestModel> {
    return toStateDigestModel(await this.durability.digest(at?.getTime()));
  }
}
