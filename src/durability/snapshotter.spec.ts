import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChangeFeed, type Change } from '../changes/change-feed.js';
import { EventIngest } from '../ingest/event-ingest.js';
import { EventProcessor } from '../ingest/event-processor.js';
import { IngestGate } from '../ingest/ingest-gate.js';
import { Router } from '../ingest/router.js';
import { createLogger } from '../ops/logger.js';
import { Metrics } from '../ops/metrics.js';
import { parsePipeline } from '../pipeline/load.js';
import { mulberry32 } from '../../test/support/random.js';
import { storesFor } from '../../test/support/stores.js';
import { digestStores } from './digest.js';
import { IngestLog } from './ingest-log.js';
import { SnapshotDirectory } from './snapshot-files.js';
import { restoreStores } from './store-codec.js';
import { Snapshotter } from './snapshotter.js';

const pipeline = parsePipeline(
  `
sources: [{ name: tx, timestamp: ts, lateness: 1m }]
features:
  - { name: n, source: tx, entity: card, aggregation: count, windows: [1h, lifetime] }
  - { name: s, source: tx, entity: card, aggregation: sum, field: amount, windows: [lifetime] }
leaderboards:
  - { name: top, source: tx, member: card, score: amount, mode: incr, period: all }
`,
  'test',
);
const T0 = Date.UTC(2026, 10, 25, 12);
const clock = () => T0 + 600_000;
const log = createLogger('silent');

/** One embedded-mode instance over `dataDir`, as the app composes it, without Nest. */
function instance(dataDir: string, keep = 3) {
  const stores = storesFor(pipeline);
  const processor = new EventProcessor(new Router(pipeline), stores, new ChangeFeed<Change>(), new Metrics(), log, clock);
  const gate = new IngestGate();
  const ingest = new EventIngest(processor, gate, clock);
  const ingestLog = IngestLog.open(join(dataDir, 'log'), 'always');
  ingest.useJournal(ingestLog);
  const dir = new SnapshotDirectory(join(dataDir, 'snapshots'));
  const snapshotter = new Snapshotter({ dir, stores, gate, watermarks: () => processor.watermarks.states(), kafka: null, ingestLog, keep, mode: 'embedded', pipeline: 'p', clock, log });
  return { stores, processor, ingest, ingestLog, dir, snapshotter };
}

/** What recovery does: newest valid snapshot, then the log after it. */
async function recover(dataDir: string) {
  const b = instance(dataDir);
  const { snapshot, skipped } = await b.dir.loadNewest();
  if (snapshot) {
    await restoreStores(snapshot.stores, b.stores);
    for (const w of snapshot.watermarks) b.processor.watermarks.restore(w.source, w.partition, w.ts);
  }
  const replayed = await b.ingestLog.replay(snapshot?.meta.logSeq ?? 0, (r) => b.processor.ingest(r.source, r.events, r.arrival));
  return { ...b, snapshot, skipped, replayed };
}

const digest = async (x: { stores: ReturnType<typeof storesFor>; processor: EventProcessor }) => digestStores(x.stores, x.processor.watermarks.states(), clock());

describe(Snapshotter.name, () => {
  let dataDir: string;
  beforeEach(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'tally-data-'));
  });
  afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

  it('captures a consistent point while ingest calls keep arriving: snapshot + log replay = the state', async () => {
    const a = instance(dataDir);
    const rand = mulberry32(7);
    const call = (i: number) => a.ingest.ingest('tx', [{ card: `c${Math.floor(rand() * 50)}`, amount: i, ts: T0 + i * 10 }, { card: 'c0', amount: 1, ts: T0 + i * 10 - 70_000 }]);
    const calls: Promise<unknown>[] = [];
    const snapshots: ReturnType<typeof a.snapshotter.snapshot>[] = [];
    for (let i = 0; i < 700; i++) {
      calls.push(call(i));
      if (i === 100 || i === 400) snapshots.push(a.snapshotter.snapshot('test'));
      if (i % 10 === 9) await new Promise((r) => setImmediate(r));
    }
    await Promise.all(calls);
    const [s1, s2] = await Promise.all(snapshots);
    expect([s1.generation, s2.generation]).toEqual([1, 2]);
    expect(s1.logSeq).toBeGreaterThan(100);
    expect(s2.logSeq).toBeGreaterThan(s1.logSeq);
    const want = await digest(a);
    await a.ingestLog.close();

    const b = await recover(dataDir);
    expect(b.snapshot?.meta.generation).toBe(2);
    expect(b.replayed).toBe(700 - s2.logSeq);
    expect(await digest(b)).toEqual(want);
  });

  it('keeps the repartition de-duplication state with the stores (a cluster member restarted from its snapshot applies no update twice)', async () => {
    const a = instance(dataDir);
    a.processor.dedup.accept(3, ['tx', 1, '41', 2]);
    a.processor.dedup.accept(5, ['tx', 0, '7', 0]);
    const snapshotter = new Snapshotter({
      dir: a.dir,
      stores: a.stores,
      gate: new IngestGate(),
      watermarks: () => a.processor.watermarks.states(),
      dedup: () => a.processor.dedup.partitions().map((partition) => ({ partition, entries: a.processor.dedup.export(partition) })),
      kafka: null,
      ingestLog: null,
      keep: 2,
      mode: 'embedded',
      pipeline: 'p',
      clock,
      log,
    });
    await snapshotter.snapshot('test');
    const { snapshot } = await a.dir.loadNewest();
    expect(snapshot?.meta.dedup).toEqual([
      { partition: 3, entries: [{ topic: 'tx', partition: 1, offset: '41', seq: 2 }] },
      { partition: 5, entries: [{ topic: 'tx', partition: 0, offset: '7', seq: 0 }] },
    ]);
    const b = instance(dataDir);
    for (const d of snapshot!.meta.dedup!) b.processor.dedup.load(d.partition, d.entries);
    expect(b.processor.dedup.accept(3, ['tx', 1, '41', 2])).toBe(false);
    expect(b.processor.dedup.accept(3, ['tx', 1, '41', 3])).toBe(true);
    await a.ingestLog.close();
    await b.ingestLog.close();
  });

  it('keeps the log back to the oldest kept snapshot, so a corrupt newest one loses nothing', async () => {
    const a = instance(dataDir, 2);
    for (let round = 0; round < 4; round++) {
      for (let i = 0; i < 50; i++) await a.ingest.ingest('tx', [{ card: `c${i % 7}`, amount: round * 100 + i, ts: T0 + round * 1000 + i }]);
      await a.snapshotter.snapshot('test');
    }
    await a.ingest.ingest('tx', [{ card: 'late-one', amount: 5, ts: T0 + 10_000 }]);
    const want = await digest(a);
    await a.ingestLog.close();
    expect(readdirSync(join(dataDir, 'snapshots')).sort()).toEqual(['snapshot-000000000003.tsnap', 'snapshot-000000000004.tsnap']);
    // Segments before the one the oldest kept snapshot (3, covering record 150) starts are gone.
    expect(readdirSync(join(dataDir, 'log')).sort()).toEqual(['ingest-0000000000000151.log', 'ingest-0000000000000201.log']);

    writeFileSync(join(dataDir, 'snapshots', 'snapshot-000000000004.tsnap'), 'torn');
    const b = await recover(dataDir);
    expect(b.skipped.map((s) => s.path)).toEqual([join(dataDir, 'snapshots', 'snapshot-000000000004.tsnap')]);
    expect(b.snapshot?.meta.generation).toBe(3);
    expect(b.replayed).toBe(51);
    expect(await digest(b)).toEqual(want);
  });

  it('writes one snapshot at a time and leaves no temp file when the write fails', async () => {
    const a = instance(dataDir);
    await a.ingest.ingest('tx', [{ card: 'a', amount: 1, ts: T0 }]);
    const [x, y] = await Promise.all([a.snapshotter.snapshot('one'), a.snapshotter.snapshot('two')]);
    expect([x.generation, y.generation]).toEqual([1, 2]);
    rmSync(join(dataDir, 'snapshots'), { recursive: true });
    writeFileSync(join(dataDir, 'snapshots'), 'a file where the directory was');
    await expect(a.snapshotter.snapshot('three')).rejects.toThrow(/EEXIST|ENOTDIR/);
    // Ingest was let go again.
    await expect(a.ingest.ingest('tx', [{ card: 'a', amount: 1, ts: T0 }])).resolves.toMatchObject({ accepted: 1 });
    await a.ingestLog.close();
  });
});
