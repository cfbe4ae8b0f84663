/**
 * Ingest over HTTP/GraphQL in a cluster: the events of a call are produced to the source's
 * Kafka topic, each keyed by its message key (src/pipeline/message-key.ts), so Kafka's default
 * partitioner sends it to the partition of its entity and the instance owning that partition
 * applies it, once, as it applies any Kafka message. Whatever instance received the call.
 *
 * Here an event is only checked for what producing it needs: a JSON object with a usable key
 * value (the refusals are listed by index, like the router's). Everything else (fields, types,
 * timestamps, lateness) is checked by the owner when it applies the event; an event it refuses
 * goes to the topic's dead letter topic, as any refused Kafka message. `accepted` therefore
 * counts the events produced (written with acks from every in-sync replica), not yet applied:
 * the owners apply them asynchronously, within their lag.
 */
import { InputError } from '../input-error.js';
import { messageKeyOf, type MessageKey } from '../pipeline/message-key.js';
import type { Pipeline } from '../pipeline/pipeline.js';
import type { IngestOutcome } from './event-processor.js';
import { MAX_REPORTED_ERRORS } from './event-processor.js';
import type { Refusal } from './json-body.js';
import { MAX_EVENT_BYTES, MAX_EVENT_DEPTH, MAX_KEY_LENGTH, nestedDeeperThan, type RejectReason } from './router.js';

/** Writes keyed JSON messages to a topic; resolves once the brokers have them (acks from all in-sync replicas). */
export interface KeyedWriter {
  sendEncoded(topic: string, messages: readonly { key: string; value: string }[]): Promise<void>;
}

/** A produced event's key, or why the event is refused. */
export type KeyResult = { ok: true; key: string } | { ok: false; reason: RejectReason; message: string };

const show = (v: unknown): string => {
  const s = typeof v === 'string' ? JSON.stringify(v) : Array.isArray(v) ? 'an array' : v === null ? 'null' : typeof v === 'object' ? 'an object' : String(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
};

/** The message key of one event read at `path`, by the rules the router applies to an entity key (a number keys as its decimal text). */
export function keyOfEvent(event: unknown, path: readonly string[]): KeyResult {
  if (event === null || typeof event !== 'object' || Array.isArray(event)) return { ok: false, reason: 'not-an-object', message: `an event must be a JSON object, got ${show(event)}` };
  let v: unknown = event;
  for (const k of path) {
    if (v === null || typeof v !== 'object') {
      v = undefined;
      break;
    }
    v = (v as Record<string, unknown>)[k];
  }
  const name = path.join('.');
  if (v === undefined || v === null) return { ok: false, reason: 'missing-field', message: `missing key field "${name}" (the events of this source are produced keyed by it)` };
  if (typeof v === 'number' && Number.isFinite(v)) return { ok: true, key: String(v) };
  if (typeof v !== 'string') return { ok: false, reason: 'wrong-type', message: `key field "${name}" must be a string or number, got ${show(v)}` };
  if (v.length === 0) return { ok: false, reason: 'invalid-value', message: `key field "${name}" is empty` };
  if (v.length > MAX_KEY_LENGTH) return { ok: false, reason: 'invalid-value', message: `key field "${name}" is longer than ${MAX_KEY_LENGTH} characters` };
  return { ok: true, key: v };
}

/** The call's events could not all be produced: none is counted accepted (answered 503), though those of partitions already written are stored. */
export class ProduceError extends Error {
  constructor(message: string, options: { cause: unknown }) {
    super(message, options);
    this.name = 'ProduceError';
  }
}

export class ClusterIngest {
  private readonly keys = new Map<string, MessageKey>();
  private readonly topics = new Map<string, string>();

  constructor(
    pipeline: Pipeline,
    private readonly writer: KeyedWriter,
  ) {
    for (const s of pipeline.sources) {
      if (s.derivedFrom !== undefined) {
        this.keys.set(s.name, { ok: false, why: `source "${s.name}" is made by Tally itself (the fence crossings of geo index "${s.derivedFrom.geo}"); it takes no outside events` });
        continue;
      }
      this.keys.set(s.name, messageKeyOf(pipeline, s.name));
      this.topics.set(s.name, s.topic);
    }
  }

  /** The message key of a source, or why ingest into it over HTTP/GraphQL is refused in a cluster. */
  keyOf(source: string): MessageKey {
    return this.keys.get(source) ?? { ok: false, why: `unknown source "${source}"` };
  }

  /** Produces the events of one call (see the header); `refused` are events refused while the body was read. */
  async ingest(source: string, events: readonly unknown[], refused?: ReadonlyMap<number, Refusal>): Promise<IngestOutcome> {
    const key = this.keyOf(source);
    if (!key.ok) throw new InputError(`ingest into source "${source}" is refused in a cluster: ${key.why}`);
    const outcome: IngestOutcome = { accepted: 0, rejected: 0, errors: [] };
    const messages: { key: string; value: string }[] = [];
    for (let i = 0; i < events.length; i++) {
      const early = refused?.get(i);
      let r: KeyResult;
      if (early !== undefined) r = { ok: false, ...early };
      else if (nestedDeeperThan(events[i])) r = { ok: false, reason: 'too-deep', message: `the event nests objects or arrays more than ${MAX_EVENT_DEPTH} levels deep` };
      else r = keyOfEvent(events[i], key.path);
      const value = r.ok ? JSON.stringify(events[i]) : '';
      if (r.ok && Buffer.byteLength(value) > MAX_EVENT_BYTES) r = { ok: false, reason: 'too-large', message: `the event is larger than ${MAX_EVENT_BYTES} bytes` };
      if (r.ok) messages.push({ key: r.key, value });
      else {
        outcome.rejected++;
        if (outcome.errors.length < MAX_REPORTED_ERRORS) outcome.errors.push({ index: i, message: `${r.reason}: ${r.message}` });
      }
    }
    const topic = this.topics.get(source)!;
    try {
      if (messages.length > 0) await this.writer.sendEncoded(topic, messages);
    } catch (err) {
      throw new ProduceError(`could not produce the ${messages.length} events of this call to topic "${topic}" (the events of partitions already written may still be applied): ${(err as Error).message}`, { cause: err });
    }
    outcome.accepted = messages.length;
    return outcome;
  }
}
