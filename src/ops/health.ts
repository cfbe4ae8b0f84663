/** What `/health` reports; components fill in their part when they start. */
export interface HealthReport {
  status: 'ok' | 'starting' | 'restoring';
  mode: 'kafka' | 'embedded';
  kafka?: { connected: boolean; brokers: string[]; groupId: string };
  uptimeSeconds: number;
}

export class Health {
  private readonly startedAt = Date.now();
  status: HealthReport['status'] = 'starting';
  kafka: (() => NonNullable<HealthReport['kafka']>) | undefined;

  constructor(readonly mode: HealthReport['mode']) {}

  report(): HealthReport {
    return { status: this.status, mode: this.mode, kafka: this.kafka?.(), uptimeSeconds: Math.round((Date.now() - this.startedAt) / 1000) };
  }
}
