/**
 * A progress bar on stderr: done out of total, the rate over the last two seconds (the whole
 * run's average on the final line) and the time left. Redrawn in place on a terminal; one
 * line every LINE_EVERY_MS otherwise (logs, CI).
 */
import type { Output } from './output.js';

/** How often a progress line is written when stderr is not a terminal. */
const LINE_EVERY_MS = 2_000;
const BAR_WIDTH = 28;

export class ProgressBar {
  done = 0;
  private readonly samples: [number, number][] = [];
  private lastLine = 0;

  constructor(
    private readonly io: Output,
    /** Units to reach (messages, rows). */
    private total: number,
    /** What is counted, plural ("messages"). */
    private readonly unit: string,
    /** When the work started. */
    private readonly started: number = Date.now(),
    /** Text before the bar ("reading"). */
    private readonly label = '',
  ) {
    this.draw(Date.now(), false);
  }

  /** Sets the total when it becomes known later. */
  setTotal(total: number): void {
    this.total = total;
  }

  update(done: number, final = false): void {
    this.done = Math.min(done, this.total);
    const now = Date.now();
    this.samples.push([now, this.done]);
    while (this.samples.length > 2 && this.samples[0][0] < now - 2_000) this.samples.shift();
    this.draw(now, final);
  }

  private draw(now: number, final: boolean): void {
    const io = this.io;
    if (!io.tty && !final && now - this.lastLine < LINE_EVERY_MS) return;
    this.lastLine = now;
    const fraction = this.total === 0 ? 1 : this.done / this.total;
    const [t0, a0] = this.samples[0] ?? [now, this.done];
    const rate = final ? (this.done * 1000) / Math.max(1, now - this.started) : now > t0 ? ((this.done - a0) * 1000) / (now - t0) : 0;
    const eta = rate > 0 ? Math.ceil((this.total - this.done) / rate) : undefined;
    const filled = Math.round(fraction * BAR_WIDTH);
    const line = `${this.label ? `${this.label} ` : ''}[${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}] ${(fraction * 100).toFixed(0).padStart(3)}%  ${this.done.toLocaleString('en')}/${this.total.toLocaleString('en')} ${this.unit}  ${Math.round(rate).toLocaleString('en')}/s${eta !== undefined && !final ? `  eta ${eta}s` : ''}`;
    io.err(io.tty ? `\r${line}\u001b[K${final ? '\n' : ''}` : `${line}\n`);
  }
}
