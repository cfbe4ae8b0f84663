/**
 * DemoRunner: drives a DemoGenerator on a timer and hands each step's events, grouped by
 * source, to a sink — the embedded ingest (in-process), Tally's HTTP ingest, or Kafka.
 * Events of sources the pipeline does not declare are left out (and said once).
 */
import type { Pipeline } from '../pipeline/pipeline.js';
import type { DemoEvent, DemoGenerator } from './demo-generator.js';

/** Where events go. `send` gets one source's events (in the order made) and reports what was refused. */
export interface DemoSink {
  readonly name: string;
  send(source: string, events: DemoEvent[]): Promise<{ accepted: number; rejected: number; firstError?: string }>;
  close(): Promise<void>;
}

export interface DemoRunnerOptions {
  /** Time between steps (events are stamped across the step). */
  intervalMs?: number;
  clock?: () => number;
  /** Told once per problem: unknown sources, refusals, sink failures. */
  warn?: (message: string) => void;
}

export interface DemoTotals {
  sent: number;
  rejected: number;
  failures: number;
  steps: number;
}

/** Steps a second: frequent enough that charts and the map move smoothly. */
export const DEFAULT_DEMO_INTERVAL_MS = 250;

export class DemoRunner {
  readonly totals: DemoTotals = { sent: 0, rejected: 0, failures: 0, steps: 0 };
  private readonly sources: Set<string>;
  private readonly intervalMs: number;
  private readonly clock: () => number;
  private readonly warned = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private inflight: Promise<void> = Promise.resolve();
  private running = false;

  constructor(
    private readonly generator: DemoGenerator,
    private readonly sink: DemoSink,
    pipeline: Pick<Pipeline, 'sources'>,
    private readonly options: DemoRunnerOptions = {},
  ) {
    this.sources = new Set(pipeline.sources.filter((s) => !s.derivedFrom).map((s) => s.name));
    this.intervalMs = options.intervalMs ?? DEFAULT_DEMO_INTERVAL_MS;
    this.clock = options.clock ?? Date.now;
  }

  /**
   * Sends the opening events (profiles, first positions), then a step every interval. Returns
   * at once: a sink that waits (ingest held while the state is restored) delays the steps,
   * not the caller.
   */
  start(): void {
    this.running = true;
    this.inflight = this.deliver(this.generator.start(this.clock()));
    this.timer = setInterval(() => {
      // one step at a time: a slow sink delays steps instead of piling them up
      this.inflight = this.inflight.then(() => (this.running ? this.deliver(this.generator.step(this.clock())) : undefined));
    }, this.intervalMs);
    this.timer.unref();
  }

  /** Runs `steps` steps at once, without the timer (tools and tests). */
  async run(steps: number, stepMs = this.intervalMs): Promise<void> {
    let now = this.clock();
    await this.deliver(this.generator.start(now));
    for (let i = 0; i < steps; i++) await this.deliver(this.generator.step((now += stepMs)));
  }

  async stop(): Promise<void> {
    this.running = false;
    clearInterval(this.timer);
    await this.inflight;
    await this.sink.close();
  }

  private async deliver(events: DemoEvent[]): Promise<void> {
    this.totals.steps++;
    const bySource = new Map<string, DemoEvent[]>();
    for (const e of events) {
      if (!this.sources.has(e.source)) {
        this.warnOnce(`unknown:${e.source}`, `demo: the pipeline has no source "${e.source}"; its events are not sent`);
        continue;
      }
      let list = bySource.get(e.source);
      if (!list) bySource.set(e.source, (list = []));
      list.push(e);
    }
    for (const [source, list] of bySource) {
      try {
        const r = await this.sink.send(source, list);
        this.totals.sent += r.accepted;
        this.totals.rejected += r.rejected;
        if (r.rejected > 0) this.warnOnce(`rejected:${source}`, `demo: ${this.sink.name} refused ${r.rejected} ${source} events (first: ${r.firstError ?? 'no reason given'})`);
      } catch (err) {
        this.totals.failures++;
        this.warnOnce(`failed:${source}`, `demo: sending ${source} events to ${this.sink.name} failed: ${(err as Error).message}`);
      }
    }
  }

  private warnOnce(key: string, message: string): void {
    if (this.warned.has(key)) return;
    this.warned.add(key);
    this.options.warn?.(message);
  }
}
