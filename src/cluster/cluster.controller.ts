import { Body, Controller, ForbiddenException, Get, Header, Headers, HttpCode, Inject, Post } from '@nestjs/common';
import { InputError } from '../input-error.js';
import { RequireRole } from '../security/roles.js';
import { ClusterState } from './cluster-state.js';
import { clusterReport, type ClusterReport } from './cluster-report.js';
import { CLUSTER_SECRET_HEADER, Forwarding } from './forwarding.js';
import { Gather, type PartialReply } from './gather.js';
import type { PartialQuestion } from './partials.js';

const KINDS = new Set<PartialQuestion['kind']>(['top', 'row', 'neighbours', 'geoSearch', 'geoNearest', 'geoPosition', 'vectorOf', 'similar']);

@Controller('cluster')
export class ClusterController {
  constructor(
    @Inject(ClusterState) private readonly state: ClusterState,
    @Inject(Forwarding) private readonly forwarding: Forwarding,
    @Inject(Gather) private readonly gather: Gather,
  ) {}

  /** `GET /cluster`: the cluster as this instance sees it (cluster-report.ts); a reader's key. */
  @Get()
  @RequireRole('reader')
  @Header('Cache-Control', 'no-store')
  report(): ClusterReport {
    return clusterReport(this.state);
  }

  /**
   * `POST /cluster/partials`: this member's part of a whole-set query a peer gathers
   * (gather.ts); only for peers (the cluster secret) and with the caller's reader key.
   */
  @Post('partials')
  @HttpCode(200)
  @RequireRole('reader')
  @Header('Cache-Control', 'no-store')
  partials(@Headers(CLUSTER_SECRET_HEADER) secret: string | undefined, @Body() question: PartialQuestion): PartialReply {
    if (!this.state.enabled || !this.forwarding.isPeerSecret(secret)) throw new ForbiddenException(`${CLUSTER_SECRET_HEADER}: only members of this cluster may ask for partial answers`);
    if (typeof question !== 'object' || question === null || !KINDS.has(question.kind)) throw new InputError(`not a partial question: kind must be one of ${[...KINDS].join(', ')}`);
    return this.gather.reply(question);
  }
}
