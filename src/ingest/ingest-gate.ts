/**
 * IngestGate: the one door every state change walks through (HTTP/GraphQL ingest, Kafka
 * batches, time-driven expiry), so a snapshot or a restore can stop all of them at a
 * consistent point.
 *
 * pause() closes the door and resolves once the changes already inside have left; resume()
 * opens it again (pauses nest: a restore and a snapshot may overlap). While paused, enter()
 * waits (HTTP ingest: the request is answered after the snapshot), tryEnter() says no at
 * once (a Kafka batch returns unprocessed and is fetched again), and `open` is false (the
 * expiry tick skips a beat). close() is for shutdown: waiting and later callers get false.
 */
export class IngestGate {
  private inside = 0;
  private pauses = 0;
  private closed = false;
  private waiting: (() => void)[] = [];
  private draining: (() => void)[] = [];

  /** True when changes may be applied now. */
  get open(): boolean {
    return this.pauses === 0 && !this.closed;
  }

  /** Changes in progress. */
  get inFlight(): number {
    return this.inside;
  }

  /** Enters if open; the caller must leave() when its change is applied. */
  tryEnter(): boolean {
    if (!this.open) return false;
    this.inside++;
    return true;
  }

  /** Waits until open, then enters; false (not entered) once the gate is closed for shutdown. */
  async enter(): Promise<boolean> {
    while (!this.open) {
      if (this.closed) return false;
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
    this.inside++;
    return true;
  }

  leave(): void {
    if (this.inside === 0) throw new Error('IngestGate.leave() without enter()');
    this.inside--;
    if (this.inside === 0) this.release('draining');
  }

  /** Closes the door to new changes; resolves when none is in progress. */
  async pause(): Promise<void> {
    this.pauses++;
    if (this.inside > 0) await new Promise<void>((resolve) => this.draining.push(resolve));
  }

  /** Undoes one pause(). */
  resume(): void {
    if (this.pauses === 0) throw new Error('IngestGate.resume() without pause()');
    this.pauses--;
    if (this.open) this.release('waiting');
  }

  /** Shutdown: no change enters from now on; waiting enter() calls return false. */
  close(): void {
    this.closed = true;
    this.release('waiting');
  }

  private release(which: 'waiting' | 'draining'): void {
    const list = this[which];
    this[which] = [];
    for (const resolve of list) resolve();
  }
}
