/**
 * Ingest over HTTP and GraphQL (embedded mode, and alongside Kafka): decoded events of one
 * source go through the same EventProcessor as Kafka messages. In a cluster they are produced
 * to the source's topic instead, keyed, and applied by their partition's owner (cluster-ingest.ts).
 */
import { InputError } from '../input-error.js';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { ClusterIngest } from './cluster-ingest.js';
import type { EventProcessor, IngestOutcome } from './event-processor.js';
import type { IngestGate } from './ingest-gate.js';
import type { Refusal } from './json-body.js';
import { nestedDeeperThan } from './router.js';

/** Events one HTTP or GraphQL ingest call may carry. */
export const MAX_EVENTS_PER_REQUEST = 10_000;

/**
 * Events applied between two yields of the event loop: a call of 10,000 events would hold
 * the loop for tens of milliseconds, and every query arriving meanwhile would wait for it.
 * About a millisecond of work on a current core.
 */
export const INGEST_SLICE = 200;

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
    super('ingest is closed: Tally is shutting down, or could not restore its state (see /health)');
    this.name = 'IngestClosedError';
  }
}

const SETTLED: Promise<void> = Promise.resolve();

export class EventIngest {
  private journal: IngestJournal | undefined;
  /** Settles when the last call started has been applied (calls apply one at a time). */
  private queue: Promise<void> = SETTLED;

  constructor(
    private readonly processor: EventProcessor,
    private readonly gate: IngestGate,
    private readonly clock: () => number = Date.now,
    /** Set in a cluster: events are produced to their source's topic, keyed, for their partition's owner to apply. */
    private readonly cluster?: ClusterIngest,
  ) {}

  /** Logs every later call to `journal` before applying it (set once, at start-up). */
  useJournal(journal: IngestJournal): void {
    this.journal = journal;
  }

  /**
   * Applies one call's events: waits for the calls before it and while a snapshot or restore
   * holds the gate, appends the call to the journal (if any), applies it in slices of
   * INGEST_SLICE events with a turn of the event loop between them (queries are answered
   * meanwhile), and with fsync `always` answers only once the record is on disk.
   *
   * Calls are applied one at a time, in the order they were logged, so a replay of the log
   * rebuilds the same state; the gate stays held across the slices, so a snapshot never sees
   * a call half applied. Each event is accepted or refused by itself (the outcome lists the
   * refusals by index); `refused` names events already refused while the body was read (their
   * slot is logged as null and refused again, as not-an-object, on replay).
   */
  async ingest(source: string, events: unknown[], refused?: ReadonlyMap<number, Refusal>): Promise<IngestOutcome> {
    if (events.length > MAX_EVENTS_PER_REQUEST) {
      throw new InputError(`${events.length} events in one request; at most ${MAX_EVENTS_PER_REQUEST}`);
    }
    if (this.cluster !== undefined) return this.cluster.ingest(source, events, refused);
    const previous = this.queue;
    let done!: () => void;
    const mine = new Promise<void>((resolve) => (done = resolve));
    this.queue = mine;
    let seq = 0;
    let outcome: IngestOutcome;
    try {
      await previous;
      if (!(await this.gate.enter())) throw new IngestClosedError();
      try {
        const arrival = this.clock();
        // An event too deep to serialize (refused as too-deep) is logged as null, refused again
        // on replay (as not-an-object): it must not make the whole call unloggable.
        if (this.journal) seq = this.journal.append(source, events.some((e) => nestedDeeperThan(e)) ? events.map((e) => (nestedDeeperThan(e) ? null : e)) : events, arrival);
        outcome = { accepted: 0, rejected: 0, errors: [] };
        for (let from = 0; from < events.length; from += INGEST_SLICE) {
          if (from > 0) await nextTurn();
          this.processor.ingestRange(source, events, from, Math.min(events.length, from + INGEST_SLICE), arrival, outcome, refused);
        }
      } finally {
        this.gate.leave();
      }
    } finally {
      done();
      if (this.queue === mine) this.queue = SETTLED;
    }
    if (seq > 0 && this.journal!.fsync === 'always') await this.journal!.sync(seq);
    return outcome;
  }
}
