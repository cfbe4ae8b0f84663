/**
 * Where the demo's events go: the in-process ingest (embedded mode), a running Tally's HTTP
 * ingest, or Kafka topics (via the ingest's Kafka writer, so kafkajs stays in one file).
 */
import type { IngestOutcome } from '../ingest/event-processor.js';
import { KafkaEventWriter } from '../ingest/kafka-ingest.js';
import type { Pipeline } from '../pipeline/pipeline.js';
import type { DemoSink } from './demo-runner.js';

/** Events per HTTP request / in-process call (the ingest takes at most 10,000). */
const BATCH = 5_000;

/** The embedded ingest, called in-process (what `ingest` and POST /ingest call). */
export function embeddedSink(ingest: (source: string, events: unknown[]) => Promise<IngestOutcome>): DemoSink {
  return {
    name: 'the embedded ingest',
    async send(source, events) {
      const total = { accepted: 0, rejected: 0, firstError: undefined as string | undefined };
      for (let i = 0; i < events.length; i += BATCH) {
        const r = await ingest(source, events.slice(i, i + BATCH).map((e) => e.value));
        total.accepted += r.accepted;
        total.rejected += r.rejected;
        total.firstError ??= r.errors[0]?.message;
      }
      return total;
    },
    close: async () => {},
  };
}

/** A running Tally's `POST /ingest/{source}` (with a writer key when keys are set). */
export function httpSink(baseUrl: string, apiKey?: string): DemoSink {
  const url = baseUrl.replace(/\/+$/, '');
  return {
    name: url,
    async send(source, events) {
      const total = { accepted: 0, rejected: 0, firstError: undefined as string | undefined };
      for (let i = 0; i < events.length; i += BATCH) {
        const res = await fetch(`${url}/ingest/${encodeURIComponent(source)}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}) },
          body: JSON.stringify(events.slice(i, i + BATCH).map((e) => e.value)),
        });
        if (!res.ok) throw new Error(`HTTP ${res.status}: ${(await res.text()).slice(0, 200)}`);
        const r = (await res.json()) as IngestOutcome;
        total.accepted += r.accepted;
        total.rejected += r.rejected;
        total.firstError ??= r.errors[0]?.message;
      }
      return total;
    },
    close: async () => {},
  };
}

/** Each source's Kafka topic (as the pipeline names it), keyed by entity. Refusals show in Tally's DLQ, not here. */
export function kafkaSink(brokers: string[], pipeline: Pick<Pipeline, 'sources'>): DemoSink {
  const writer = new KafkaEventWriter(brokers, 'tally-demo');
  const topics = new Map(pipeline.sources.map((s) => [s.name, s.topic]));
  return {
    name: `Kafka (${brokers.join(',')})`,
    async send(source, events) {
      await writer.send(topics.get(source) ?? source, events);
      return { accepted: events.length, rejected: 0 };
    },
    close: () => writer.close(),
  };
}
