import { BadRequestException, Body, Controller, HttpCode, Inject, Param, PayloadTooLargeException, Post, ServiceUnavailableException } from '@nestjs/common';
import { EventIngest, IngestClosedError, MAX_EVENTS_PER_REQUEST } from './event-ingest.js';
import type { IngestOutcome } from './event-processor.js';
import { ProduceError } from './cluster-ingest.js';
import { ReadEvents, readNdjson } from './json-body.js';
import { RequireRole } from '../security/roles.js';

/**
 * `POST /ingest/{source}` with a JSON array (or one object) or an NDJSON body. Each event is
 * accepted or refused by itself; the answer counts both and lists the refusals by index. In a
 * cluster, accepted means produced to the source topic (applied by the owner asynchronously).
 */
@Controller('ingest')
export class IngestController {
  constructor(@Inject(EventIngest) private readonly ingestion: EventIngest) {}

  @Post(':source')
  @RequireRole('writer')
  @HttpCode(200)
  async ingest(@Param('source') source: string, @Body() body: unknown): Promise<IngestOutcome> {
    let read: ReadEvents;
    if (typeof body === 'string') read = readNdjson(body);
    else if (body instanceof ReadEvents) read = body;
    else if (Array.isArray(body)) read = new ReadEvents(body, new Map());
    else if (body !== null && typeof body === 'object' && Object.keys(body).length > 0) read = new ReadEvents([body], new Map());
    else throw new BadRequestException('the body must be a JSON array of events, one JSON object, or NDJSON (Content-Type: application/x-ndjson)');
    if (read.events.length > MAX_EVENTS_PER_REQUEST) throw new PayloadTooLargeException(`${read.events.length} events in one request; at most ${MAX_EVENTS_PER_REQUEST}`);
    try {
      return await this.ingestion.ingest(source, read.events, read.refused.size > 0 ? read.refused : undefined);
    } catch (err) {
      if (err instanceof IngestClosedError || err instanceof ProduceError) throw new ServiceUnavailableException(err.message);
      throw err;
    }
  }
}
