import { Controller, Get, Header, Inject } from '@nestjs/common';
import { RequireRole } from '../security/roles.js';
import { ClusterState } from './cluster-state.js';
import { clusterReport, type ClusterReport } from './cluster-report.js';

/** `GET /cluster`. What members ask each other travels over the peer bus (peer-bus.ts), not here. */
@Controller('cluster')
export class ClusterController {
  constructor(@Inject(ClusterState) private readonly state: ClusterState) {}

  /** `GET /cluster`: the cluster as this instance sees it (cluster-report.ts); a reader's key. */
  @Get()
  @RequireRole('reader')
  @Header('Cache-Control', 'no-store')
  report(): ClusterReport {
    return clusterReport(this.state);
  }
}
