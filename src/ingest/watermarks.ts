/**
 * Event-time watermarks: per source and partition, the newest event time seen. An event
 * older than its partition's watermark minus the source's allowed lateness is late. Per
 * partition, because partitions of one topic advance independently (one may be replayed
 * hours behind another) while order within a partition is what producers control.
 */
export class Watermarks {
  /** source -> partition -> watermark: two lookups, no key string built per event. */
  private readonly marks = new Map<string, Map<number, number>>();

  private partitions(source: string): Map<number, number> {
    let m = this.marks.get(source);
    if (m === undefined) {
      m = new Map();
      this.marks.set(source, m);
    }
    return m;
  }

  /** True when `ts` is within lateness of the watermark (and advances the watermark). */
  admit(source: string, partition: number, ts: number, latenessMs: number): boolean {
    const m = this.partitions(source);
    const wm = m.get(partition);
    if (wm !== undefined && ts < wm - latenessMs) return false;
    if (wm === undefined || ts > wm) m.set(partition, ts);
    return true;
  }

  /** The current watermark, if any event was seen. */
  get(source: string, partition: number): number | undefined {
    return this.marks.get(source)?.get(partition);
  }

  /** Every watermark as [`source\u0000partition`, ts]. */
  entries(): [string, number][] {
    return this.states().map(({ source, partition, ts }) => [`${source}\u0000${partition}`, ts]);
  }

  /** Every watermark as (source, partition, ts), for snapshots. */
  states(): { source: string; partition: number; ts: number }[] {
    const out: { source: string; partition: number; ts: number }[] = [];
    for (const [source, m] of this.marks) for (const [partition, ts] of m) out.push({ source, partition, ts });
    return out;
  }

  /** Forgets the watermarks of `partitions` in every source (their state was handed over). */
  forget(partitions: Iterable<number>): void {
    for (const p of partitions) for (const m of this.marks.values()) m.delete(p);
  }

  /** Sets a watermark as a snapshot recorded it. */
  restore(source: string, partition: number, ts: number): void {
    this.partitions(source).set(partition, ts);
  }
}
