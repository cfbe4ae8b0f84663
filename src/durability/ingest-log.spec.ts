import { appendFileSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IngestLog, IngestLogCorruptError, type LogRecord } from './ingest-log.js';

const T0 = Date.UTC(2026, 10, 25, 12);

async function all(log: IngestLog, after = 0): Promise<LogRecord[]> {
  const out: LogRecord[] = [];
  await log.replay(after, (r) => out.push(r));
  return out;
}

describe(IngestLog.name, () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'tally-log-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('numbers records from 1 and replays them, with their arrival time, after a position', async () => {
    const log = IngestLog.open(dir, 'always');
    expect(log.append('tx', [{ a: 1 }, { a: 'é' }], T0)).toBe(1);
    expect(log.append('clicks', [], T0 + 1)).toBe(2);
    expect(log.append('tx', [{ nested: { x: [1, 2] } }], T0 + 2)).toBe(3);
    await log.sync(3);
    expect(await all(log)).toEqual([
      { seq: 1, arrival: T0, source: 'tx', events: [{ a: 1 }, { a: 'é' }] },
      { seq: 2, arrival: T0 + 1, source: 'clicks', events: [] },
      { seq: 3, arrival: T0 + 2, source: 'tx', events: [{ nested: { x: [1, 2] } }] },
    ]);
    expect((await all(log, 2)).map((r) => r.seq)).toEqual([3]);
    await log.close();
    const again = IngestLog.open(dir, 'everysec');
    expect(again.lastSeq).toBe(3);
    expect(again.append('tx', [{}], T0)).toBe(4);
    await again.close();
  });

  it('cuts a record torn by a crash at the end of the log, and goes on after it', async () => {
    const log = IngestLog.open(dir, 'always');
    log.append('tx', [{ a: 1 }], T0);
    log.append('tx', [{ a: 2 }], T0);
    await log.close();
    const [file] = readdirSync(dir);
    const size = statSync(join(dir, file)).size;
    truncateSync(join(dir, file), size - 3);
    const repairs: string[] = [];
    const reopened = IngestLog.open(dir, 'always', (m) => repairs.push(m));
    expect(repairs).toEqual([expect.stringMatching(/truncated record at byte \d+; cut off/)]);
    expect(reopened.lastSeq).toBe(1);
    expect(reopened.append('tx', [{ a: 3 }], T0)).toBe(2);
    expect((await all(reopened)).map((r) => r.events)).toEqual([[{ a: 1 }], [{ a: 3 }]]);
    await reopened.close();
  });

  it('names the byte of a record whose checksum fails once', async () => {
    const log = IngestLog.open(dir, 'always');
    log.append('tx', [{ a: 1 }], T0);
    log.append('tx', [{ a: 2 }], T0);
    await log.close();
    const [file] = readdirSync(dir);
    const bytes = readFileSync(join(dir, file));
    // The last byte belongs to the second record's JSON: flip it.
    bytes[bytes.length - 1] ^= 0xff;
    writeFileSync(join(dir, file), bytes);
    const repairs: string[] = [];
    const reopened = IngestLog.open(dir, 'always', (m) => repairs.push(m));
    await reopened.close();
    expect(repairs).toHaveLength(1);
    expect(repairs[0]).toMatch(/record checksum mismatch at byte \d+; cut off/);
    expect(repairs[0].match(/at byte/g)).toHaveLength(1);
  });

  it('cuts garbage after the last good record (a torn length field)', async () => {
    const log = IngestLog.open(dir, 'always');
    log.append('tx', [{ a: 1 }], T0);
    await log.close();
    appendFileSync(join(dir, readdirSync(dir)[0]), Buffer.from([0xff, 0xff]));
    const reopened = IngestLog.open(dir, 'always');
    expect(reopened.lastSeq).toBe(1);
    await reopened.close();
  });

  it('refuses to open when a record before the last segment is corrupt', async () => {
    const log = IngestLog.open(dir, 'always');
    log.append('tx', [{ a: 1 }], T0);
    log.append('tx', [{ a: 2 }], T0);
    await log.rotate();
    log.append('tx', [{ a: 3 }], T0);
    await log.close();
    const first = join(dir, readdirSync(dir).sort()[0]);
    const b = readFileSync(first);
    b[b.length - 2] ^= 0xff;
    writeFileSync(first, b);
    expect(() => IngestLog.open(dir, 'always')).toThrow(IngestLogCorruptError);
  });

  it('rotates at snapshots and deletes only segments wholly covered', async () => {
    const log = IngestLog.open(dir, 'always');
    log.append('tx', [1], T0);
    log.append('tx', [2], T0);
    await log.rotate(); // a snapshot covering 2
    log.append('tx', [3], T0);
    await log.rotate(); // a snapshot covering 3
    await log.rotate(); // nothing new: no empty segment
    log.append('tx', [4], T0);
    expect(readdirSync(dir).sort()).toEqual(['ingest-0000000000000001.log', 'ingest-0000000000000003.log', 'ingest-0000000000000004.log']);
    expect(log.truncate(1)).toBe(0); // record 2 is not covered yet
    expect(log.truncate(2)).toBe(1);
    expect(log.firstSeq).toBe(3);
    expect((await all(log, 2)).map((r) => r.events)).toEqual([[3], [4]]);
    await expect(log.replay(0, () => undefined)).rejects.toThrow(/starts at record 3, but the snapshot covers only up to 0/);
    await log.close();
    expect(IngestLog.open(dir, 'always').lastSeq).toBe(4);
  });

  it('moves past a snapshot that covers more than the log holds', async () => {
    const log = IngestLog.open(dir, 'always');
    log.append('tx', [1], T0);
    await log.advanceTo(10);
    expect(log.append('tx', [11], T0)).toBe(11);
    expect((await all(log, 10)).map((r) => r.seq)).toEqual([11]);
    await log.close();
    expect(IngestLog.open(dir, 'always').lastSeq).toBe(11);
  });

  it('shares one fdatasync between concurrent callers under fsync always', async () => {
    const log = IngestLog.open(dir, 'always');
    const seqs = [1, 2, 3, 4, 5].map((i) => log.append('tx', [i], T0));
    await Promise.all(seqs.map((s) => log.sync(s)));
    await log.close();
    expect(IngestLog.open(dir, 'always').lastSeq).toBe(5);
  });
});
