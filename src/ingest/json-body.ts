/**
 * HTTP bodies as events: the JSON body parser of the server and the NDJSON splitter. Both read
 * with plain JSON.parse, so a key named `__proto__` is an ordinary field in either format
 * (an own property; nothing in Tally copies events with assignment, which could turn it into a
 * prototype), and both measure nesting before parsing a large text (json-depth.ts): a body
 * nested too deep is refused before it can hold the event loop, and in an ingest array only
 * the events nested too deep are refused, each by itself.
 */
import { arrayElements, DEPTH_SCAN_MIN_CHARS, firstTooDeep } from './json-depth.js';
import type { RejectReason } from './router.js';
import { MAX_EVENT_DEPTH } from './router.js';

/** Why one event of a body was refused before it could be routed. */
export interface Refusal {
  reason: RejectReason;
  message: string;
}

/** Events of a body, some of them refused while reading it (their slot holds undefined). */
export class ReadEvents {
  constructor(
    readonly events: unknown[],
    readonly refused: ReadonlyMap<number, Refusal>,
  ) {}
}

/** A body that cannot be read at all: answered 400 with this message. */
export class BodyError extends Error {
  readonly statusCode = 400;
  constructor(message: string) {
    super(message);
    this.name = 'BodyError';
  }
}

/**
 * Nesting allowed in a body that is not an ingest array (GraphQL requests): an event inside
 * `{"variables":{"events":[...]}}` sits 3 levels down, and the router refuses events deeper
 * than MAX_EVENT_DEPTH by themselves; past this the whole body is refused.
 */
export const MAX_BODY_DEPTH = MAX_EVENT_DEPTH + 8;

const tooDeep = (): Refusal => ({ reason: 'too-deep', message: `the event nests objects or arrays more than ${MAX_EVENT_DEPTH} levels deep` });

function parse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new BodyError(`Body is not valid JSON: ${(err as Error).message}`);
  }
}

/**
 * Reads a JSON body. For ingest (`ingest` true) a body of an array with events nested deeper
 * than MAX_EVENT_DEPTH comes back as ReadEvents with those events refused; any other body is
 * the parsed value. Throws BodyError for text that is not JSON, or (not ingest) nests deeper
 * than MAX_BODY_DEPTH.
 */
export function readJsonBody(text: string, ingest: boolean): unknown {
  if (text.length === 0) throw new BodyError('Body cannot be empty when content-type is set to application/json');
  if (text.length < DEPTH_SCAN_MIN_CHARS) return parse(text);
  const at = firstTooDeep(text, ingest ? MAX_EVENT_DEPTH + 1 : MAX_BODY_DEPTH);
  if (at < 0) return parse(text);
  if (!ingest) throw new BodyError(`the body nests objects or arrays more than ${MAX_BODY_DEPTH} levels deep (at character ${at})`);
  const spans = arrayElements(text, MAX_EVENT_DEPTH);
  // One object (not an array) nested too deep: one refused event.
  if (spans === undefined) return new ReadEvents([undefined], new Map([[0, tooDeep()]]));
  const events: unknown[] = [];
  const refused = new Map<number, Refusal>();
  for (const s of spans) {
    if (s.tooDeep) {
      refused.set(events.length, tooDeep());
      events.push(undefined);
    } else events.push(parse(text.slice(s.start, s.end)));
  }
  return new ReadEvents(events, refused);
}

/**
 * Splits an NDJSON body into events; a line that is not JSON, or nests too deep, becomes a
 * refused event at its index (its position among non-empty lines), not a failed request.
 */
export function readNdjson(body: string): ReadEvents {
  const events: unknown[] = [];
  const refused = new Map<number, Refusal>();
  for (const line of body.split('\n')) {
    if (line.trim() === '') continue;
    if (line.length >= DEPTH_SCAN_MIN_CHARS && firstTooDeep(line, MAX_EVENT_DEPTH) >= 0) {
      refused.set(events.length, tooDeep());
      events.push(undefined);
      continue;
    }
    try {
      events.push(JSON.parse(line));
    } catch (err) {
      refused.set(events.length, { reason: 'invalid-json', message: `not valid JSON: ${(err as Error).message}` });
      events.push(undefined);
    }
  }
  return new ReadEvents(events, refused);
}
