/**
 * Digest of every store: a SHA-256 over what readers would see at one instant `at`, in a
 * canonical order (stores by name, entities and members sorted). Two instances that applied
 * the same events, whatever their history of crashes, snapshots and replays, give the same
 * digest; the crash and reload tests compare digests this way.
 *
 * Observable state, not memory layout: a feature contributes, per entity with a non-empty
 * window at `at`, each window's value and the newest event time; a view the vectors live at
 * `at`; a leaderboard each kept period's ranking; a geo index each member's stored position,
 * last-seen time and fences. So an idle entity freed by the sweeper and one not yet freed
 * digest alike, as they read alike. Watermarks are digested separately.
 */
import { createHash, type Hash } from 'node:crypto';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { StoreSet } from './store-codec.js';
import type { WatermarkState } from './snapshot-files.js';

export interface StoreDigest {
  /** feature | view | leaderboard | geo */
  kind: string;
  name: string;
  /** Entities, members or (leaderboard) member-period entries digested. */
  entries: number;
  digest: string;
}

export interface StateDigest {
  /** SHA-256 over every store digest, in order. */
  digest: string;
  at: number;
  stores: StoreDigest[];
  /** SHA-256 of the sorted watermarks. */
  watermarks: string;
}

/** Entities hashed between yields to the event loop. */
const BATCH = 5_000;

export async function digestStores(stores: StoreSet, watermarks: readonly WatermarkState[], at: number): Promise<StateDigest> {
  const out: StoreDigest[] = [];
  for (const name of [...stores.features.names()].sort()) {
    const f = stores.features.feature(name);
    const windows = f.windows;
    const keys = [...f.keys()].sort();
    const h = createHash('sha256');
    let entries = 0;
    await each(keys, (key) => {
      const values: unknown[] = [];
      let last: number | null = null;
      let any = false;
      for (const w of windows) {
        const r = f.read(key, w, at);
        // A topk window: its whole list (items, counts, errors, bound), not only the top count.
        values.push(r.top ?? r.value);
        last = r.lastEventAt;
        if (r.value !== null && !(f.aggregator.name === 'count' && r.value === 0)) any = true;
      }
      if (!any) return;
      entries++;
      line(h, [key, last, ...values]);
    });
    out.push({ kind: 'feature', name, entries, digest: h.digest('hex') });
  }
  for (const name of [...stores.views.names()].sort()) {
    const v = stores.views.view(name);
    const keys = [...v.entries()].map(([k]) => k).sort();
    const h = createHash('sha256');
    let entries = 0;
    await each(keys, (key) => {
      const r = v.read(key, at);
      if (r === null) return;
      entries++;
      line(h, [key, r.updatedAt, ...v.fieldNames.map((f) => r.values[f])]);
    });
    out.push({ kind: 'view', name, entries, digest: h.digest('hex') });
  }
  for (const board of [...stores.leaderboards].sort((a, b) => cmp(a.name, b.name))) {
    const h = createHash('sha256');
    let entries = 0;
    for (const start of board.periodStarts()) {
      const rows = [...board.entries(start)];
      await each(rows, (r) => {
        entries++;
        line(h, [start, r.member, r.score]);
      });
    }
    out.push({ kind: 'leaderboard', name: board.name, entries, digest: h.digest('hex') });
  }
  for (const c of [...stores.geo].sort((a, b) => cmp(a.name, b.name))) {
    const members = [...c.entries()].sort((a, b) => cmp(a.member, b.member));
    const h = createHash('sha256');
    await each(members, (m) => line(h, [m.member, m.lat, m.lon, m.lastSeen, ...m.fences]));
    out.push({ kind: 'geo', name: c.name, entries: members.length, digest: h.digest('hex') });
  }
  const all = createHash('sha256');
  for (const s of out) all.update(`${s.kind}\u0000${s.name}\u0000${s.entries}\u0000${s.digest}\n`);
  const wm = createHash('sha256');
  for (const w of [...watermarks].sort((a, b) => cmp(a.source, b.source) || a.partition - b.partition)) line(wm, [w.source, w.partition, w.ts]);
  return { digest: all.digest('hex'), at, stores: out, watermarks: wm.digest('hex') };
}

function line(h: Hash, parts: unknown[]): void {
  h.update(JSON.stringify(parts));
  h.update('\n');
}

async function each<T>(items: readonly T[], fn: (item: T) => void): Promise<void> {
  for (let i = 0; i < items.length; i++) {
    fn(items[i]);
    if ((i + 1) % BATCH === 0) await nextTurn();
  }
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
