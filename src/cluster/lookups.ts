/*
 * Forwarded point lookups, the owner's side: what a member answers for entities of the
 * partitions it owns when a peer forwards `feature`, `featureVector` or `onlineFeatures`
 * (forwarding.ts). The answer is the engine's read as plain JSON, not a GraphQL document: the
 * owner neither parses, validates nor executes a query, which was most of what a hop cost it.
 * The asking member turns the read into its GraphQL answer as it does a local one. Plain
 * TypeScript over the engine; the HTTP side is cluster.controller.ts.
 */
import type { FeatureStore, OnlineFeatures, OnlineRow, VectorRead, ViewStore, WindowRead } from '../features/index.js';
import { InputError } from '../input-error.js';

/** One forwarded lookup; `at` is an as-of time (epoch ms), as the caller asked it. */
export type LookupQuestion =
  | { kind: 'rows'; entities: string[]; features: string[]; context?: unknown[]; at?: number }
  | { kind: 'feature'; name: string; entity: string; window: string; quantile?: number; at?: number }
  | { kind: 'vector'; view: string; entity: string; at?: number };

/** What each kind is answered with. */
export interface LookupValues {
  rows: OnlineRow[];
  /** With the moment it is for (the as-of time when asked, else the owner's now). */
  feature: WindowRead & { asOf: number };
  vector: VectorRead | null;
}

/** The owner's reply: the read, or the error (a GraphQL error's message and extensions) it gave instead. */
export type LookupReply<V = unknown> = { ok: true; value: V } | { ok: false; message: string; extensions: Record<string, unknown> };

export class PointLookups {
  constructor(
    private readonly online: OnlineFeatures,
    private readonly features: FeatureStore,
    private readonly views: ViewStore,
    private readonly clock: () => number,
  ) {}

  /** The entities a question reads (each must be owned here). */
  static entitiesOf(q: LookupQuestion): string[] {
    return q.kind === 'rows' ? q.entities : [q.entity];
  }

  answer(q: LookupQuestion): LookupValues[LookupQuestion['kind']] {
    const now = this.clock();
    switch (q.kind) {
      case 'rows':
        return this.online.fetch(q.entities, q.features, now, q.context, q.at);
      case 'feature':
        return { ...this.features.read(q.name, q.entity, q.window, now, q.quantile, q.at), asOf: q.at ?? now };
      case 'vector':
        return this.views.read(q.view, q.entity, now, q.at);
    }
  }
}

const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === 'string');
const optionalNumber = (v: unknown) => v === undefined || (typeof v === 'number' && Number.isFinite(v));

/** The body of POST /cluster/lookup as a question, or an InputError naming what is wrong with it. */
export function lookupQuestion(body: unknown): LookupQuestion {
  const q = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
  const fail = (what: string) => new InputError(`not a lookup question: ${what}`);
  if (!optionalNumber(q.at)) throw fail('at must be epoch milliseconds');
  switch (q.kind) {
    case 'rows':
      if (!isStrings(q.entities) || !isStrings(q.features)) throw fail('rows needs entities and features (lists of strings)');
      if (q.context !== undefined && !Array.isArray(q.context)) throw fail('context must be a list');
      return q as LookupQuestion;
    case 'feature':
      if (typeof q.name !== 'string' || typeof q.entity !== 'string' || typeof q.window !== 'string' || !optionalNumber(q.quantile)) throw fail('feature needs name, entity and window (strings) and a numeric quantile if any');
      return q as LookupQuestion;
    case 'vector':
      if (typeof q.view !== 'string' || typeof q.entity !== 'string') throw fail('vector needs view and entity (strings)');
      return q as LookupQuestion;
    default:
      throw fail('kind must be one of rows, feature, vector');
  }
}
