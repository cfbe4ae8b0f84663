/**
 * The periodic work of the process in one place: the idle sweep (features), TTL expiry and
 * leaderboard period roll-over (ingest), interval snapshots (durability), and whatever comes
 * next. Each module registers its job by name; every timer is unref'd (a timer never keeps the
 * process alive) and all of them stop together at shutdown, after which nothing registers.
 * `list()` says what runs and how often.
 */
export interface TimerJob {
  name: string;
  everyMs: number;
  /** 'every': on a fixed period; 'chain': `everyMs` after the previous run settled (never overlapping itself). */
  kind: 'every' | 'chain';
}

export class Timers {
  private readonly jobs = new Map<string, { job: TimerJob; timer: NodeJS.Timeout | undefined }>();
  private stopped = false;

  /** Runs `fn` every `ms` until cancel(name) or stop(); a job of that name is replaced. */
  every(name: string, ms: number, fn: () => void): void {
    this.cancel(name);
    if (this.stopped) return;
    const timer = setInterval(fn, ms);
    timer.unref();
    this.jobs.set(name, { job: { name, everyMs: ms, kind: 'every' }, timer });
  }

  /**
   * Runs `fn` `ms` from now, and again `ms` after the promise it returns settles (a failure
   * included), until cancel(name) or stop(): a job that must never overlap itself (snapshots).
   */
  chain(name: string, ms: number, fn: () => Promise<unknown>): void {
    this.cancel(name);
    if (this.stopped) return;
    const entry: { job: TimerJob; timer: NodeJS.Timeout | undefined } = { job: { name, everyMs: ms, kind: 'chain' }, timer: undefined };
    const arm = () => {
      entry.timer = setTimeout(() => {
        entry.timer = undefined;
        void fn()
          .catch(() => undefined)
          .finally(() => {
            if (this.jobs.get(name) === entry && !this.stopped) arm();
          });
      }, ms);
      entry.timer.unref();
    };
    this.jobs.set(name, entry);
    arm();
  }

  /** Stops the job `name` (a run in progress finishes; a chain is not re-armed). */
  cancel(name: string): void {
    const entry = this.jobs.get(name);
    if (entry === undefined) return;
    clearInterval(entry.timer);
    clearTimeout(entry.timer);
    this.jobs.delete(name);
  }

  /** The jobs registered now. */
  list(): TimerJob[] {
    return [...this.jobs.values()].map((e) => ({ ...e.job }));
  }

  /** Stops every job; later registrations are ignored (shutdown). */
  stop(): void {
    this.stopped = true;
    for (const name of [...this.jobs.keys()]) this.cancel(name);
  }

  /** Nest calls it at shutdown. */
  onApplicationShutdown(): void {
    this.stop();
  }
}
