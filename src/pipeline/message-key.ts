/**
 * The message key of a source's events: what Tally keys the events it produces to the
 * source's topic with (HTTP/GraphQL ingest in a cluster), so that Kafka's default partitioner
 * (murmur2 of the key) sends each to the partition, hence the instance, that owns its entity.
 *
 * The source's `key:` field when declared; otherwise the entity field that every feature, view,
 * leaderboard and geo index of the source shares, when they all use the same single field path
 * (a composite entity is no single field). Otherwise there is none, and ingest over HTTP/GraphQL
 * into that source is refused in a cluster, naming why (Kafka ingest of events keyed by their
 * producer is unaffected, so start-up does not refuse it).
 */
import type { Pipeline } from './pipeline.js';

export type MessageKey = { ok: true; path: string[]; declared: boolean } | { ok: false; why: string };

export function messageKeyOf(pipeline: Pipeline, source: string): MessageKey {
  const spec = pipeline.sources.find((s) => s.name === source);
  if (spec === undefined) return { ok: false, why: `unknown source "${source}"` };
  if (spec.key !== undefined) return { ok: true, path: spec.key, declared: true };
  const uses: { index: string; path: string | undefined }[] = [
    ...pipeline.features.filter((f) => f.source === source).map((f) => ({ index: `feature "${f.name}"`, path: f.composite ? undefined : f.entity.join('.') })),
    ...pipeline.views.filter((v) => v.source === source).map((v) => ({ index: `view "${v.name}"`, path: v.composite ? undefined : v.entity.join('.') })),
    ...pipeline.leaderboards.filter((l) => l.source === source).map((l) => ({ index: `leaderboard "${l.name}"`, path: l.member.join('.') })),
    ...pipeline.geo.filter((g) => g.source === source).map((g) => ({ index: `geo index "${g.name}"`, path: g.member.join('.') })),
  ];
  const fix = `declare one with \`key: <field>\` on the source in the pipeline file`;
  if (uses.length === 0) return { ok: false, why: `source "${source}" declares no key field and no feature, view, leaderboard or geo index reads it; ${fix}` };
  const composite = uses.find((u) => u.path === undefined);
  if (composite !== undefined) return { ok: false, why: `source "${source}" declares no key field and ${composite.index} has a composite entity; ${fix}` };
  const paths = [...new Set(uses.map((u) => u.path!))];
  if (paths.length > 1) {
    const by = paths.map((p) => `"${p}" (${uses.filter((u) => u.path === p).map((u) => u.index).join(', ')})`).join(', ');
    return { ok: false, why: `source "${source}" declares no key field and its indexes key by different fields: ${by}; ${fix}` };
  }
  return { ok: true, path: paths[0].split('.'), declared: false };
}
