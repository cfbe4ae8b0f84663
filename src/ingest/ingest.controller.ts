import { BadRequestException, Body, Controller, HttpCode, Inject, Param, PayloadTooLargeException, Post } from '@nestjs/common';
import { EventIngest, MAX_EVENTS_PER_REQUEST } from './event-ingest.js';
import type { IngestOutcome } from './event-processor.js';
import { RequireRole } from '../security/roles.js';

/** `POST /ingest/{source}` with a JSON array (or one object) or an NDJSON body. */
@Controller('ingest')
export class IngestController {
  constructor(@Inject(EventIngest) private readonly ingestion: EventIngest) {}

  @Post(':source')
  @RequireRole('writer')
  @HttpCode(200)
  async ingest(@Param('source') source: string, @Body() body: unknown): Promise<IngestOutcome> {
    let events: unknown[];
    let invalid = new Map<number, string>();
    if (typeof body === 'string') ({ events, invalid } = EventIngest.parseNdjson(body));
    else if (Array.isArray(body)) events = body;
    else if (body !== null && typeof body === 'object' && Object.keys(body).length > 0) events = [body];
    else throw new BadRequestException('the body must be a JSON array of events, one JSON object, or NDJSON (Content-Type: application/x-ndjson)');
    if (events.length > MAX_EVENTS_PER_REQUEST) throw new PayloadTooLargeException(`${events.length} events in one request; at most ${MAX_EVENTS_PER_REQUEST}`);
    const valid = invalid.size === 0 ? events : events.filter((_, i) => !invalid.has(i));
    const outcome = await this.ingestion.ingest(source, valid);
    if (invalid.size === 0) return outcome;
    return mergeInvalidLines(outcome, invalid, events.length);
  }
}

/** Re-indexes errors of the valid lines to their position in the body and adds the bad lines. */
function mergeInvalidLines(outcome: IngestOutcome, invalid: Map<number, string>, total: number): IngestOutcome {
  const positions: number[] = [];
  for (let i = 0; i < total; i++) if (!invalid.has(i)) positions.push(i);
  const errors = [
    ...outcome.errors.map((e) => ({ index: positions[e.index], message: e.message })),
    ...[...invalid].map(([index, message]) => ({ index, message: `invalid-json: not valid JSON: ${message}` })),
  ].sort((a, b) => a.index - b.index);
  return { accepted: outcome.accepted, rejected: outcome.rejected + invalid.size, errors: errors.slice(0, 100) };
}
