/**
 * Event-time watermarks: per source and partition, the newest event time seen. An event
 * older than its partition's watermark minus the source's allowed lateness is late. Per
 * partition, because partitions of one topic advance independently (one may be replayed
 * hours behind another) while order within a partition is what producers control.
 */
export class Watermarks {
  private readonly marks = new Map<string, number>();

  /** True when `ts` is within lateness of the watermark (and advances the watermark). */
  admit(source: string, partition: number, ts: number, latenessMs: number): boolean {
    const k = `${source}\u0000${partition}`;
    const wm = this.marks.get(k);
    if (wm !== undefined && ts < wm - latenessMs) return false;
    if (wm === undefined || ts > wm) this.marks.set(k, ts);
    return true;
  }

  /** The current watermark, if any event was seen. */
  get(source: string, partition: number): number | undefined {
    return this.marks.get(`${source}\u0000${partition}`);
  }

  entries(): [string, number][] {
    return [...this.marks.entries()];
  }

  /** Every watermark as (source, partition, ts), for snapshots. */
  states(): { source: string; partition: number; ts: number }[] {
    return [...this.marks].map(([k, ts]) => {
      const at = k.lastIndexOf('\u0000');
      return { source: k.slice(0, at), partition: Number(k.slice(at + 1)), ts };
    });
  }

  /** Sets a watermark as a snapshot recorded it. */
  restore(source: string, partition: number, ts: number): void {
    this.marks.set(`${source}\u0000${partition}`, ts);
  }
}
