// The `tally` command line against the real thing: the bin script as a process (exit codes),
// `snapshot inspect` on a snapshot the app wrote, and `replay` from a real broker giving the
// same state digest as an instance that ingested the same topics live.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEMO_PIPELINE_PATH } from '../../src/pipeline/load.js';
import { eventually, gqlData, startTally } from '../support/app.js';
import { createTopics, produce, requireKafka, uniqueName } from '../support/kafka.js';
import { cli } from '../support/cli.js';

interface HealthBody {
  status: string;
  restore?: { state: string; snapshot?: string };
}
const health = async (url: string) => (await (await fetch(`${url}/health`)).json()) as HealthBody;


const dir = mkdtempSync(join(tmpdir(), 'tally-cli-e2e-'));

describe('tally (the bin script)', () => {
  const tally = (...args: string[]) => spawnSync(process.execPath, ['bin/tally.js', ...args], { encoding: 'utf8', timeout: 90_000 });

  it('validate: exit 0 and a summary for a good file, exit 1 and every problem by path for a bad one', () => {
    const good = tally('validate', DEMO_PIPELINE_PATH);
    expect(good.status).toBe(0);
    expect(good.stdout).toBe(`${DEMO_PIPELINE_PATH}: ok — 4 sources, 7 features, 1 view, 2 leaderboards, 1 geo index (2 fences)\n`);

    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'sources:\n  - name: tx\nfeatures:\n  - { name: n, source: tx, entity: id, aggregation: count, windows: [5x] }\n');
    const r = tally('validate', bad);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`${bad}: 1 problem in the pipeline file:\n  - features[0].windows[0]: "5x" is not a duration`);
  }, 120_000); // the first run may compile src/ (bin/tally.js)

  it('answers --help with exit 0 and a wrong call with exit 2', () => {
    const help = tally('replay', '--help');
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/^usage: tally replay --data-dir DIR/);
    expect(tally('validate').status).toBe(2);
  }, 60_000);
});

describe('tally snapshot inspect', () => {
  it('shows what a snapshot written by the app holds, and reports a damaged copy', async () => {
    const dataDir = join(dir, 'embedded');
    const app = await startTally(readFileSync(DEMO_PIPELINE_PATH, 'utf8'), { TALLY_DATA_DIR: dataDir, TALLY_SNAPSHOT_INTERVAL: '0' });
    try {
      await eventually('restore done', async () => (await health(app.url)).status === 'ok');
      const ts = Date.now();
      await gqlData(app.url, 'mutation($e: [JSON!]!) { ingest(source: "transactions", events: $e) { accepted } }', {
        e: [1, 2, 3].map((i) => ({ card_id: `card-${i}`, amount: i * 10, merchant_id: 'm-1', ts })),
      });
      await gqlData(app.url, 'mutation { ingest(source: "game_scores", events: [{ player_id: "ada", points: 5 }]) { accepted } }');
      const { snapshot } = await gqlData<{ snapshot: { path: string; generation: number } }>(app.url, 'mutation { snapshot { path generation } }');

      const r = await cli('snapshot', 'inspect', snapshot.path);
      expect(r.code).toBe(0);
      expect(r.out).toMatch(/^status {6}valid$/m);
      expect(r.out).toMatch(new RegExp(`^generation  ${snapshot.generation} \\(admin, embedded mode`, 'm'));
      expect(r.out).toMatch(/^checksum {4}ok/m);
      expect(r.out).toMatch(/^ {2}FEAT card_txn_count +3$/m);
      expect(r.out).toMatch(/^ {2}transactions\[-1\] +\d{4}-/m);

      const json = JSON.parse((await cli('snapshot', 'inspect', snapshot.path, '--json')).out) as { valid: boolean; meta: { counts: Record<string, number> } };
      expect(json.valid).toBe(true);
      expect(json.meta.counts['LBRD top_players']).toBeGreaterThan(0);

      const damaged = join(dir, 'damaged.tsnap');
      copyFileSync(snapshot.path, damaged);
      const bytes = readFileSync(damaged);
      bytes[Math.floor(bytes.length / 2)] ^= 0xff;
      writeFileSync(damaged, bytes);
      const bad = await cli('snapshot', 'inspect', damaged);
      expect(bad.code).toBe(1);
      expect(bad.out).toMatch(/^status {6}NOT VALID/m);
      expect(bad.out).toMatch(/BAD/);
    } finally {
      await app.close();
    }
  });
});

describe('tally replay', () => {
  it('rebuilds from Kafka earliest the same state (digest) as live ingest, into a snapshot a new instance starts from', async () => {
    const brokers = requireKafka();
    // every source on a topic of its own, created (with leaders) before Tally looks at it
    const topics = { tx: uniqueName('replay-tx'), cards: uniqueName('replay-cards'), scores: uniqueName('replay-scores'), drivers: uniqueName('replay-drivers') };
    await createTopics(brokers, Object.values(topics).map((topic) => ({ topic, numPartitions: 3 })));
    const pipeline = readFileSync(DEMO_PIPELINE_PATH, 'utf8')
      .replace(/^ {2}- name: transactions\n/m, `  - name: transactions\n    topic: ${topics.tx}\n`)
      .replace(/^ {2}- name: card_updates( +#.*)?\n/m, `  - name: card_updates\n    topic: ${topics.cards}\n`)
      .replace(/^ {2}- name: game_scores\n/m, `  - name: game_scores\n    topic: ${topics.scores}\n`)
      .replace(/^ {2}- name: driver_locations\n/m, `  - name: driver_locations\n    topic: ${topics.drivers}\n`);
    const pipelineFile = join(dir, 'replay.yaml');
    writeFileSync(pipelineFile, pipeline);

    const t0 = Date.now() - 60_000;
    const tx = Array.from({ length: 600 }, (_, i) => ({ card_id: `card-${i % 40}`, amount: (i % 17) * 3.5, merchant_id: `m-${i % 13}`, ts: t0 + i * 50 }));
    const scores = Array.from({ length: 300 }, (_, i) => ({ player_id: `p-${i % 25}`, points: (i * 7) % 50 }));
    const drivers = Array.from({ length: 200 }, (_, i) => ({ driver_id: `driver-${i % 10}`, lat: 40.62 + (i % 20) * 0.007, lon: -73.99 + (i % 10) * 0.02, ts: t0 + i * 100 }));
    await produce(brokers, topics.tx, tx.map((e) => ({ key: e.card_id, value: JSON.stringify(e) })));
    await produce(brokers, topics.scores, scores.map((e) => ({ key: e.player_id, value: JSON.stringify(e) })));
    await produce(brokers, topics.drivers, drivers.map((e) => ({ key: e.driver_id, value: JSON.stringify(e) })));
    const total = tx.length + scores.length + drivers.length;
    const at = new Date(Date.now() + 5_000).toISOString();
    const digestQuery = 'query($at: DateTime) { digest(at: $at) { digest watermarks } }';

    // live: an instance reading the topics as they are
    const live = await startTally(pipeline, { KAFKA_BROKERS: brokers, KAFKA_GROUP_ID: uniqueName('replay-live') });
    let liveDigest: { digest: string; watermarks: string };
    try {
      await eventually('live instance caught up', async () => (await health(live.url)).status === 'ok', 60_000);
      liveDigest = (await gqlData<{ digest: { digest: string; watermarks: string } }>(live.url, digestQuery, { at })).digest;
    } finally {
      await live.close();
    }

    // replay into an empty data directory
    const dataDir = join(dir, 'replayed');
    const r = await cli('replay', '--data-dir', dataDir, '--brokers', brokers, '--pipeline', pipelineFile, '--digest-at', at);
    expect(r.err).not.toMatch(/failed|refus/i);
    expect(r.code).toBe(0);
    expect(r.err).toMatch(new RegExp(`\\[#{28}\\] 100%  ${total.toLocaleString('en')}/${total.toLocaleString('en')} messages`));
    expect(r.out).toMatch(new RegExp(`^replayed    ${total.toLocaleString('en')} messages from 12 partitions`, 'm'));
    expect(r.out).toContain(`digest      ${liveDigest.digest} `);
    expect(r.out).toContain(`watermarks  ${liveDigest.watermarks}`);

    // a second replay into the same directory is refused (it holds snapshots)
    expect((await cli('replay', '--data-dir', dataDir, '--brokers', brokers, '--pipeline', pipelineFile)).code).toBe(1);

    // a new instance starts from the replayed snapshot, with the same state
    const restored = await startTally(pipeline, { KAFKA_BROKERS: brokers, KAFKA_GROUP_ID: uniqueName('replay-restored'), TALLY_DATA_DIR: dataDir, TALLY_SNAPSHOT_INTERVAL: '0' });
    try {
      await eventually('restored instance ready', async () => (await health(restored.url)).status === 'ok', 60_000);
      expect((await health(restored.url)).restore?.snapshot).toMatch(/snapshots\/snapshot-\d+\.tsnap$/);
      expect((await gqlData<{ digest: { digest: string } }>(restored.url, digestQuery, { at })).digest.digest).toBe(liveDigest.digest);
    } finally {
      await restored.close();
    }
  }, 180_000);
});
