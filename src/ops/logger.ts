/**
 * Structured logs (JSON lines, pino). Quiet by default: `info` for start-up and state
 * changes, `warn` for refused input at a bounded rate. `TALLY_LOG_LEVEL` changes the level.
 * This is the only file that imports the logger library.
 */
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level = process.env.TALLY_LOG_LEVEL ?? 'info'): Logger {
  return pino({ level, base: { service: 'tally' }, timestamp: pino.stdTimeFunctions.isoTime, redact: ['authorization', '*.authorization', 'apiKey', '*.apiKey'] });
}

/** Lets at most `perInterval` messages per key through per interval, then one summary. */
export class RateLimitedLog {
  private readonly counts = new Map<string, number>();
  private windowStart = 0;

  constructor(
    private readonly log: Logger,
    private readonly perInterval = 10,
    private readonly intervalMs = 60_000,
  ) {}

  warn(key: string, now: number, fields: Record<string, unknown>, message: string): void {
    if (now - this.windowStart >= this.intervalMs) {
      for (const [k, n] of this.counts) {
        if (n > this.perInterval) this.log.warn({ key: k, suppressed: n - this.perInterval }, 'similar messages suppressed');
      }
      this.counts.clear();
      this.windowStart = now;
    }
    const n = (this.counts.get(key) ?? 0) + 1;
    this.counts.set(key, n);
    if (n <= this.perInterval) this.log.warn(fields, message);
  }
}
