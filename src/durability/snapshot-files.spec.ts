import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { parsePipeline } from '../pipeline/load.js';
import { storesFor } from '../../test/support/stores.js';
import { digestStores } from './digest.js';
import { FOOTER_BYTES, HEADER_BYTES, SECTION, parseSnapshot } from './snapshot-format.js';
import { SnapshotCorruptError, SnapshotDirectory, inspectSnapshot, readSnapshot, type SnapshotMeta } from './snapshot-files.js';
import { restoreStores, writeStores, type StoreSet } from './store-codec.js';

const pipeline = parsePipeline(
  `
sources: [{ name: tx, timestamp: ts }]
features:
  - { name: n, source: tx, entity: card, aggregation: count, windows: [1h, lifetime] }
  - { name: d, source: tx, entity: card, aggregation: distinct, field: m, windows: [lifetime] }
leaderboards:
  - { name: top, source: tx, member: card, score: amount, mode: incr, period: all }
`,
  'test',
);
const T0 = Date.UTC(2026, 10, 25, 12);

function stores(events: number): StoreSet {
  const s = storesFor(pipeline);
  for (let i = 0; i < events; i++) {
    const card = `c${i % 13}`;
    s.features.update('n', card, 1, T0 + i);
    s.features.update('d', card, `m${i % 5}`, T0 + i);
    s.leaderboards.update('top', card, i % 9, T0 + i);
  }
  return s;
}

async function writeGeneration(dir: SnapshotDirectory, s: StoreSet, logSeq = 0): Promise<string> {
  const generation = await dir.nextGeneration();
  const pending = await dir.create(generation);
  const meta: SnapshotMeta = { generation, createdAt: T0, reason: 'test', mode: 'kafka', logSeq, pipeline: 'p', counts: {} };
  await pending.encoder.header(T0);
  await pending.encoder.json(SECTION.meta, meta);
  await pending.encoder.json(SECTION.offsets, [{ topic: 'tx', partition: 0, offset: String(100 * generation) }]);
  await pending.encoder.json(SECTION.watermarks, [{ source: 'tx', partition: 0, ts: T0 }]);
  await writeStores(pending.encoder, s);
  await pending.encoder.footer();
  return (await pending.commit()).path;
}

describe(SnapshotDirectory.name, () => {
  let root: string;
  let sut: SnapshotDirectory;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'tally-snapshots-'));
    sut = new SnapshotDirectory(root);
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('writes generations atomically and reads back header, offsets, watermarks and stores', async () => {
    const s = stores(200);
    const path = await writeGeneration(sut, s);
    expect(readdirSync(root)).toEqual(['snapshot-000000000001.tsnap']);
    const snap = await readSnapshot(path);
    expect(snap.header).toMatchObject({ magic: 'TALLYSNP', version: 1, createdAt: T0 });
    expect(snap.meta.generation).toBe(1);
    expect(snap.offsets).toEqual([{ topic: 'tx', partition: 0, offset: '100' }]);
    expect(snap.watermarks).toEqual([{ source: 'tx', partition: 0, ts: T0 }]);
    expect(snap.stores.map((x) => `${x.tag} ${x.name}`)).toEqual(['FEAT n', 'FEAT d', 'LBRD top']);
    const back = storesFor(pipeline);
    await restoreStores(snap.stores, back);
    expect((await digestStores(back, [], T0 + 1000)).digest).toBe((await digestStores(s, [], T0 + 1000)).digest);
    const report = await inspectSnapshot(path);
    expect(report).toMatchObject({ valid: true, checksum: 'ok', problems: [] });
    expect(report.sections.map((x) => [x.tag, x.checksum])).toEqual([
      ['META', 'ok'],
      ['OFFS', 'ok'],
      ['WMRK', 'ok'],
      ['FEAT', 'ok'],
      ['FEAT', 'ok'],
      ['LBRD', 'ok'],
    ]);
  });

  it('keeps the newest generations and deletes older ones and leftover temp files', async () => {
    for (let i = 0; i < 5; i++) await writeGeneration(sut, stores(10));
    writeFileSync(join(root, 'snapshot-000000000006.tsnap.tmp'), 'half a snapshot');
    const kept = await sut.prune(3);
    expect(kept.map((k) => k.generation)).toEqual([5, 4, 3]);
    expect(readdirSync(root).sort()).toEqual(['snapshot-000000000003.tsnap', 'snapshot-000000000004.tsnap', 'snapshot-000000000005.tsnap']);
    expect(await sut.nextGeneration()).toBe(6);
  });

  it('never reads a temp file: a crash before the rename leaves the previous generation in force', async () => {
    await writeGeneration(sut, stores(10));
    const pending = await sut.create(2);
    await pending.encoder.header(T0);
    await pending.encoder.json(SECTION.meta, { generation: 2 });
    // (the process dies here: no footer, no rename)
    const { snapshot, skipped } = await sut.loadNewest();
    expect(snapshot?.meta.generation).toBe(1);
    expect(skipped).toEqual([]);
    await pending.abort();
  });

  it('removes at start every snapshot temp file a crash left, whatever generation its name holds, and nothing else', async () => {
    await writeGeneration(sut, stores(10));
    const killed = await sut.create(2); // a write the process did not live to finish
    await killed.encoder.header(T0);
    const leftovers = ['snapshot-000000000002.tsnap.tmp', 'snapshot-1000000000000.tsnap.tmp', 'snapshot-7.tsnap.tmp', 'copy of snapshot-000000000001.tsnap.tmp'];
    for (const name of leftovers.slice(1)) writeFileSync(join(root, name), 'half a snapshot');
    const others = ['snapshot-000000000001.tsnap', 'snapshot-000000000000.tsnap.corrupt', 'snapshot-000000000001.tsnap.tmp.note', 'notes.tmp'];
    for (const name of others.slice(1)) writeFileSync(join(root, name), 'kept');
    expect(readdirSync(root).sort()).toEqual([...leftovers, ...others].sort());
    expect(await sut.removeLeftovers()).toBe(leftovers.length);
    expect(readdirSync(root).sort()).toEqual([...others].sort());
    expect((await sut.loadNewest()).snapshot?.meta.generation).toBe(1);
    expect(await sut.removeLeftovers()).toBe(0);
    await killed.abort();
  });

  it('counts only the temp files it could delete', async () => {
    mkdirSync(join(root, 'snapshot-000000000009.tsnap.tmp')); // not a file: unlink fails
    writeFileSync(join(root, 'snapshot-000000000008.tsnap.tmp'), 'half a snapshot');
    expect(await sut.removeLeftovers()).toBe(1);
    expect(readdirSync(root)).toEqual(['snapshot-000000000009.tsnap.tmp']);
  });

  describe('corrupt newest generation: detected, previous one used, no crash', () => {
    let good: string;
    let newest: string;
    let bytes: Buffer;
    beforeEach(async () => {
      good = await writeGeneration(sut, stores(100));
      newest = await writeGeneration(sut, stores(300));
      bytes = readFileSync(newest);
    });

    async function expectFallback(corrupt: Buffer, problem: RegExp): Promise<void> {
      writeFileSync(newest, corrupt);
      await expect(readSnapshot(newest)).rejects.toThrow(SnapshotCorruptError);
      const report = await inspectSnapshot(newest);
      expect(report.valid).toBe(false);
      expect(report.problems.join('; ')).toMatch(problem);
      const { snapshot, skipped } = await sut.loadNewest();
      expect(snapshot?.path).toBe(good);
      expect(skipped).toEqual([{ path: newest, problems: report.problems }]);
      expect(existsSync(`${newest}.corrupt`)).toBe(true);
      expect(await sut.nextGeneration()).toBe(3);
    }

    it('an empty file', () => expectFallback(Buffer.alloc(0), /the file is empty/));

    it('a file cut short inside the header', () => expectFallback(bytes.subarray(0, 10), /fewer than a header/));

    it('a file cut short inside a section (a torn write)', () => expectFallback(bytes.subarray(0, Math.floor(bytes.length / 2)), /truncated|runs past the end/));

    it('a file cut short inside the footer', () => expectFallback(bytes.subarray(0, bytes.length - 3), /truncated footer/));

    it('a file with bytes after the footer', () => expectFallback(Buffer.concat([bytes, Buffer.from('x')]), /unexpected bytes after the footer/));

    it('another format version', () => {
      const v2 = Buffer.from(bytes);
      v2.writeUInt16LE(2, 8);
      v2.writeUInt32LE(crc32(v2.subarray(0, 20)), 20);
      return expectFallback(v2, /unsupported format version 2 \(this build reads version 1\)/);
    });

    it('not a snapshot at all', () => expectFallback(Buffer.from('{"hello": "world"} and more bytes than a header'), /not a Tally snapshot/));

    it('a flipped byte in a store section', () => {
      const flipped = Buffer.from(bytes);
      const at = bytes.length - FOOTER_BYTES - 40;
      flipped[at] ^= 0x10;
      return expectFallback(flipped, /checksum mismatch/);
    });

    it('every single flipped bit, anywhere in the file, is detected', () => {
      for (let at = 0; at < bytes.length; at++) {
        // All 8 bits in the header and footer; one (varying) bit elsewhere.
        const bits = at < HEADER_BYTES || at >= bytes.length - FOOTER_BYTES ? [0, 1, 2, 3, 4, 5, 6, 7] : [at % 8];
        for (const bit of bits) {
          const b = Buffer.from(bytes);
          b[at] ^= 1 << bit;
          const problems = parseSnapshot(b).problems;
          if (problems.length === 0) throw new Error(`a flip of bit ${bit} at byte ${at} of ${bytes.length} went unnoticed`);
        }
      }
    });


    it('every truncation, at any length, is detected', () => {
      for (let len = 0; len < bytes.length; len++) {
        if (parseSnapshot(bytes.subarray(0, len)).problems.length === 0) throw new Error(`a file cut to ${len} of ${bytes.length} bytes went unnoticed`);
      }
    });
  });

  it('reports every generation corrupt as no snapshot, not as an error', async () => {
    const only = await writeGeneration(sut, stores(10));
    writeFileSync(only, Buffer.alloc(0));
    const { snapshot, skipped } = await sut.loadNewest();
    expect(snapshot).toBeUndefined();
    expect(skipped.map((s) => s.path)).toEqual([only]);
  });

  it('reads the META of a generation from the start of the file only', async () => {
    const path = await writeGeneration(sut, stores(10), 42);
    expect((await sut.readMeta(path))?.logSeq).toBe(42);
    expect(await sut.readMeta(join(root, 'missing.tsnap'))).toBeUndefined();
  });
});
