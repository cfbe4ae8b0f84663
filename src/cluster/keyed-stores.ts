/*
 * Which stores are keyed by their source's message key. A member owns the partitions of
 * message keys, so a store whose entity is another field of the event (merchant counts from
 * card events, a composite entity, counts of fence events, which happen where the geo member
 * is owned) would be spread over every member, each holding the part its partitions fed. In a
 * cluster their updates are repartitioned to their entity's owner (src/ingest/repartition.ts).
 */
import { messageKeyOf } from '../pipeline/message-key.js';
import type { Pipeline } from '../pipeline/pipeline.js';

/** `kind:name` (feature, view, leaderboard, geo) -> why a cluster cannot answer it exactly. */
export function unkeyedStores(p: Pipeline): Map<string, string> {
  const out = new Map<string, string>();
  const check = (kind: string, name: string, source: string, entity: string[] | undefined) => {
    const key = messageKeyOf(p, source);
    const derived = p.sources.find((s) => s.name === source)?.derivedFrom;
    // Fence events happen where the geo member is owned, whatever their entity.
    if (derived !== undefined) out.set(`${kind}:${name}`, `its source "${source}" is derived from the members of geo index "${derived.geo}", not keyed by its entity`);
    else if (!key.ok) out.set(`${kind}:${name}`, `its source "${source}" has no single message key (${key.why})`);
    else if (entity === undefined) out.set(`${kind}:${name}`, `its entity is composite, not the message key "${key.path.join('.')}" of source "${source}"`);
    else if (entity.join('.') !== key.path.join('.')) out.set(`${kind}:${name}`, `its entity "${entity.join('.')}" is not the message key "${key.path.join('.')}" of source "${source}"`);
  };
  for (const f of p.features) check('feature', f.name, f.source, f.composite ? undefined : f.entity);
  for (const v of p.views) check('view', v.name, v.source, v.composite ? undefined : v.entity);
  for (const l of p.leaderboards) check('leaderboard', l.name, l.source, l.member);
  for (const g of p.geo) check('geo', g.name, g.source, g.member);
  return out;
}
