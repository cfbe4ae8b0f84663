// Leaderboard sections of a snapshot: member change times survive a round trip, and sections
// written before they were kept (record format 1) still load, with no change time.
import { parsePipeline } from '../pipeline/load.js';
import { storesFor } from '../../test/support/stores.js';
import { ByteWriter } from './binary.js';
import { SECTION, SnapshotEncoder, parseSnapshot, type ParsedSection } from './snapshot-format.js';
import { restoreStores, writeStores, type StoreSet } from './store-codec.js';

const pipeline = parsePipeline(
  `
sources: [{ name: s, timestamp: ts }]
leaderboards:
  - { name: top, source: s, member: p, score: n, mode: incr, period: day, keep: 1 }
  - { name: best, source: s, member: p, score: n, mode: max, period: all, ttl: 1h }
`,
  'test',
);
const T0 = Date.UTC(2026, 10, 25, 12);
const DAY = 86_400_000;

async function sections(stores: StoreSet): Promise<ParsedSection[]> {
  const chunks: Buffer[] = [];
  const enc = new SnapshotEncoder(async (c) => void chunks.push(Buffer.from(c)));
  await enc.header(T0);
  await writeStores(enc, stores);
  await enc.footer();
  const parsed = parseSnapshot(Buffer.concat(chunks));
  expect(parsed.problems).toEqual([]);
  return parsed.sections;
}

describe('leaderboard sections', () => {
  it('keep each member change time through a snapshot', async () => {
    const a = storesFor(pipeline);
    a.leaderboards.update('top', 'ann', 3, T0 - DAY); // yesterday's period
    a.leaderboards.update('top', 'ann', 5, T0);
    a.leaderboards.update('top', 'bob', 2, T0 + 1);
    a.leaderboards.update('best', 'ann', 9, T0 + 2);
    a.leaderboards.update('best', 'ann', 1, T0 + 3); // below the best: no change
    const b = storesFor(pipeline);
    const report = await restoreStores(await sections(a), b);
    expect(report.skipped).toEqual([]);
    for (const [name, period] of [
      ['top', 'current'],
      ['top', 'previous'],
      ['best', 'current'],
    ]) {
      const rows = b.leaderboards.require(name).top(0, 10, period, T0 + 10);
      expect(rows).toEqual(a.leaderboards.require(name).top(0, 10, period, T0 + 10));
      expect(rows.every((r) => r.changedAt !== null)).toBe(true);
    }
    expect(b.leaderboards.require('best').rank('ann', 'current', T0 + 10)?.changedAt).toBe(T0 + 2);
  });

  it('load from record format 1 (no change times) with null times, and refuse a newer format by name', async () => {
    // The descriptor and records exactly as builds before format 2 wrote them.
    const descriptor = new ByteWriter(64).str('incr').str('day').f64(7).f64(T0 - (T0 % DAY)).varint(1).f64(T0 - (T0 % DAY)).f64(7).varint(2).take();
    const records = new ByteWriter(64).str('ann').f64(5).f64(Number.NaN).f64(0).str('bob').f64(8).f64(Number.NaN).f64(0).take();
    const old: ParsedSection = { tag: SECTION.leaderboard, name: 'top', offset: 0, bytes: 0, frames: [descriptor, records], checksum: 'ok' };
    const b = storesFor(pipeline);
    const report = await restoreStores([old], b);
    expect(report.skipped).toEqual([]);
    expect(b.leaderboards.require('top').top(0, 10, 'current', T0)).toEqual([
      { rank: 1, member: 'bob', score: 8, changedAt: null },
      { rank: 2, member: 'ann', score: 5, changedAt: null },
    ]);
    b.leaderboards.update('top', 'ann', 4, T0 + 5);
    expect(b.leaderboards.require('top').rank('ann', 'current', T0 + 5)).toEqual({ rank: 1, member: 'ann', score: 9, changedAt: T0 + 5 });

    const future = Buffer.concat([descriptor, new ByteWriter(4).varint(3).take()]);
    const c = storesFor(pipeline);
    const refused = await restoreStores([{ ...old, frames: [future] }], c);
    expect(refused.skipped).toEqual(['LBRD top: record format 3 is newer than this build reads (2)']);
  });
});
