/**
 * Ingest over HTTP and GraphQL (embedded mode, and alongside Kafka): decoded events of one
 * source go through the same EventProcessor as Kafka messages.
 */
import type { EventProcessor, IngestOutcome } from './event-processor.js';

/** Events one HTTP or GraphQL ingest call may carry. */
export const MAX_EVENTS_PER_REQUEST = 10_000;

export class EventIngest {
  constructor(private readonly processor: EventProcessor) {}

  async ingest(source: string, events: unknown[]): Promise<IngestOutcome> {
    if (events.length > MAX_EVENTS_PER_REQUEST) {
      throw new RangeError(`${events.length} events in one request; at most ${MAX_EVENTS_PER_REQUEST}`);
    }
    return this.processor.ingest(source, events);
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
