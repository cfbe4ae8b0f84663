/**
 * Ingest over HTTP and GraphQL (embedded mode, and alongside Kafka): decoded events of one
 * source go through the same EventProcessor as Kafka messages.
 */
import type { EventProcessor, IngestOutcome } from './event-processor.js';
import type { IngestGate } from './ingest-gate.js';
import { nestedDeeperThan } from './router.js';

/** Events one HTTP or GraphQL ingest call may carry. */
export const MAX_EVENTS_PER_REQUEST = 10_000;

/**
 * Where ingest calls are logged before they are applied (the embedded ingest log of
 * src/durability): append() returns the record's sequence number, sync() resolves once it is
 * on disk.
 */
export interface IngestJournal {
  readonly fsync: 'always' | 'everysec';
  append(source: string, events: unknown[], arrival: number): number;
  sync(seq: number): Promise<void>;
}

/** Ingest refused because the service is shutting down. */
export class IngestClosedError extends Error {
  constructor() {
    super('Tally is shutting down: ingest is closed');
    this.name = 'IngestClosedError';
  }
}

export class EventIngest {
  private journal: IngestJournal | undefined;

  constructor(
    private readonly processor: EventProcessor,
    private readonly gate: IngestGate,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Logs every later call to `journal` before applying it (set once, at start-up). */
  useJournal(journal: IngestJournal): void {
    this.journal = journal;
  }

  /**
   * Applies one call's events: waits while a snapshot or restore holds the gate, appends the
   * call to the journal (if any), applies it, and with fsync `always` answers only once the
   * record is on disk.
   */
  async ingest(source: string, events: unknown[]): Promise<IngestOutcome> {
    if (events.length > MAX_EVENTS_PER_REQUEST) {
      throw new RangeError(`${events.length} events in one request; at most ${MAX_EVENTS_PER_REQUEST}`);
    }
    if (!(await this.gate.enter())) throw new IngestClosedError();
    let seq = 0;
    let outcome: IngestOutcome;
    try {
      const arrival = this.clock();
      // An event too deep to serialize (refused as too-deep) is logged as null, refused again
      // on replay (as not-an-object): it must not make the whole call unloggable.
      if (this.journal) seq = this.journal.append(source, events.some((e) => nestedDeeperThan(e)) ? events.map((e) => (nestedDeeperThan(e) ? null : e)) : events, arrival);
      outcome = this.processor.ingest(source, events, arrival);
    } finally {
      this.gate.leave();
    }
    if (seq > 0 && this.journal!.fsync === 'always') await this.journal!.sync(seq);
    return outcome;
  }

  /**
   * Splits an NDJSON body into events; a line that is not JSON becomes a refused event at
   * its index (its position among non-empty lines), not a failed request.
   */
  static parseNdjson(body: string): { events: unknown[]; invalid: Map<number, string> } {
    const events: unknown[] = [];
    const invalid = new Map<number, string>();
    for (const line of body.split('\n')) {
      if (line.trim() === '') continue;
      try {
        events.push(JSON.parse(line));
      } catch (err) {
        invalid.set(events.length, (err as Error).message);
        events.push(undefined);
      }
    }
    return { events, invalid };
  }
}
