/*
 * Scatter-gather, the member's side: what this member answers for the partitions it serves
 * (assigned, restored, none being handed over) to a peer gathering a whole-set query
 * (leaderboards, geo, `similar`). The asker resolves names and periods once, so every member answers the
 * same question (and the moment, for `similar`: each member reads live vectors as of it); merge.ts turns the answers into what one instance holding every partition
 * answers. Plain TypeScript over the engine; the HTTP side is cluster.controller.ts.
 */
import type { ViewStore } from '../features/index.js';
import type { SimilarHit } from '../features/vectors/merge.js';
import type { GeoHit, GeoPoint, GeoStore } from '../geo/index.js';
import type { LeaderboardStore } from '../leaderboard/index.js';
import { InputError } from '../input-error.js';
import type { Neighbours } from './merge.js';
import { localNeighbours, localRow, localTop, type BoardRow, type ScoreKey } from './partition-reads.js';

/** One question of a gather; `start` is the leaderboard period the asker resolved (null: none kept). */
export type PartialQuestion =
  | { kind: 'top'; board: string; start: number | null; n: number }
  | { kind: 'row'; board: string; start: number | null; member: string }
  | { kind: 'neighbours'; board: string; start: number | null; key: ScoreKey; radius: number }
  | { kind: 'geoSearch'; index: string; lat: number; lon: number; radiusMeters: number; limit: number }
  | { kind: 'geoNearest'; index: string; lat: number; lon: number; k: number }
  | { kind: 'geoPosition'; index: string; member: string }
  | { kind: 'vectorOf'; view: string; field: string; entity: string; now: number }
  | { kind: 'similar'; view: string; field: string; k: number; vector: number[]; where?: string; exclude?: string; now: number };

const KINDS = new Set<PartialQuestion['kind']>(['top', 'row', 'neighbours', 'geoSearch', 'geoNearest', 'geoPosition', 'vectorOf', 'similar']);

/** A peer's request body as a question (its fields as the asking member built them), or an InputError. */
export function partialQuestion(body: unknown): PartialQuestion {
  if (typeof body !== 'object' || body === null || !KINDS.has((body as { kind?: PartialQuestion['kind'] }).kind!)) throw new InputError(`not a partial question: kind must be one of ${[...KINDS].join(', ')}`);
  return body as PartialQuestion;
}

/** What each kind of question is answered with. */
export interface PartialValues {
  top: BoardRow[];
  row: BoardRow | null;
  neighbours: Neighbours<BoardRow>;
  geoSearch: GeoHit[];
  geoNearest: GeoHit[];
  geoPosition: GeoPoint | null;
  vectorOf: number[] | null;
  similar: SimilarHit[];
}

/** A member's answer: the partitions it stands for, and its value over them. */
export interface PartialAnswer<V = unknown> {
  instanceId: string;
  partitions: number[];
  value: V;
}

/** The partitions a member serves now, and those it is still handing over (whose state it may still hold). */
export interface Serving {
  partitions: number[];
  handingOver: number[];
}

/** A member cannot answer for its partitions now (handing some over): the gather fails naming them. */
export class NotServingError extends Error {
  constructor(
    message: string,
    readonly partitions: number[],
  ) {
    super(message);
    this.name = 'NotServingError';
  }
}

const EMPTY_NEIGHBOURS: Neighbours<BoardRow> = { countAbove: 0, above: [], below: [] };

export class PartialAnswers {
  constructor(
    private readonly instanceId: string,
    private readonly leaderboards: LeaderboardStore,
    private readonly geo: GeoStore,
    private readonly views: ViewStore,
    private readonly serving: () => Serving,
  ) {}

  answer(q: PartialQuestion): PartialAnswer {
    const s = this.serving();
    if (s.handingOver.length > 0) throw new NotServingError(`${this.instanceId} is dropping the state of partitions ${s.handingOver.join(', ')} it handed over`, s.handingOver);
    return { instanceId: this.instanceId, partitions: s.partitions, value: this.value(q) };
  }

  private value(q: PartialQuestion): PartialValues[PartialQuestion['kind']] {
    switch (q.kind) {
      case 'top': {
        const set = q.start === null ? undefined : this.leaderboards.require(q.board).setAt(q.start);
        return set === undefined ? [] : localTop(set, q.n);
      }
      case 'row': {
        const set = q.start === null ? undefined : this.leaderboards.require(q.board).setAt(q.start);
        return (set && localRow(set, q.member)) ?? null;
      }
      case 'neighbours': {
        const set = q.start === null ? undefined : this.leaderboards.require(q.board).setAt(q.start);
        return set === undefined ? EMPTY_NEIGHBOURS : localNeighbours(set, q.key, q.radius);
      }
      case 'geoSearch':
        return this.geo.collection(q.index).search(q.lat, q.lon, q.radiusMeters, q.limit);
      case 'geoNearest':
        return this.geo.collection(q.index).nearest(q.lat, q.lon, q.k);
      case 'geoPosition':
        return this.geo.collection(q.index).position(q.member) ?? null;
      case 'vectorOf':
        return this.views.view(q.view).vectorOf(q.field, q.entity, q.now) ?? null;
      case 'similar': {
        // `similar` by entity: the entity (held by one member) is left out of every member's hits.
        const k = q.exclude === undefined ? q.k : q.k + 1;
        const hits = this.views.similar(q.view, { field: q.field, k, vector: q.vector, where: q.where }, q.now);
        return q.exclude === undefined ? hits : hits.filter((h) => h.entity !== q.exclude).slice(0, q.k);
      }
    }
  }
}
