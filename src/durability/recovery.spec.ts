import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChangeFeed, type Change } from '../changes/change-feed.js';
import { EventIngest } from '../ingest/event-ingest.js';
import { EventProcessor, type IngestOutcome } from '../ingest/event-processor.js';
import { IngestGate } from '../ingest/ingest-gate.js';
import { Router } from '../ingest/router.js';
import { Health } from '../ops/health.js';
import { createLogger } from '../ops/logger.js';
import { Metrics } from '../ops/metrics.js';
import { parsePipeline } from '../pipeline/load.js';
import { storesFor } from '../../test/support/stores.js';
import { IngestLog } from './ingest-log.js';
import { Recovery } from './recovery.js';

const pipeline = parsePipeline(
  `
sources: [{ name: tx, timestamp: ts }, { name: other }]
features:
  - { name: n, source: tx, entity: card, aggregation: count, windows: [lifetime] }
`,
  'test',
);
const T0 = Date.UTC(2026, 10, 25, 12);
const clock = () => T0;
const log = createLogger('silent');

/** A processor with one defect: any call of source "other" throws, as a bug in a store would. */
class DefectiveProcessor extends EventProcessor {
  override ingest(source: string, events: unknown[], arrival?: number): IngestOutcome {
    if (source === 'other') throw new RangeError('Invalid array length');
    return super.ingest(source, events, arrival);
  }
}

/** An embedded-mode instance over `dataDir` as the app composes it, with `Processor` applying events. */
function composeIn(dataDir: string, Processor: typeof EventProcessor) {
  const stores = storesFor(pipeline);
  const metrics = new Metrics();
  const processor = new Processor(new Router(pipeline), stores, new ChangeFeed<Change>(), metrics, log, clock);
  const gate = new IngestGate();
  const ingest = new EventIngest(processor, gate, clock);
  const health = new Health('embedded');
  const recovery = new Recovery({ dataDir, fsync: 'always', rebuildFromEarliest: false, stores, processor, ingest, gate, kafka: null, health, metrics, log, pipelineHash: 'p' });
  return { stores, metrics, ingest, health, recovery };
}

describe(Recovery.name, () => {
  let dataDir: string;
  beforeEach(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'tally-recovery-'));
  });
  afterEach(() => rmSync(dataDir, { recursive: true, force: true }));
  const compose = (Processor: typeof EventProcessor) => composeIn(dataDir, Processor);

  it('skips an ingest-log record that cannot be applied, counts and reports it, replays the rest and opens ingest', async () => {
    const first = IngestLog.open(join(dataDir, 'log'), 'always');
    first.append('tx', [{ card: 'a', ts: T0 }], T0);
    first.append('other', [{ x: 1 }], T0);
    first.append('tx', [{ card: 'a', ts: T0 }, { card: 'b', ts: T0 }], T0);
    await first.close();

    const { stores, metrics, ingest, health, recovery } = compose(DefectiveProcessor);
    await recovery.prepare();
    await recovery.run();

    expect(health.status).toBe('ok');
    expect(health.restore).toMatchObject({ state: 'done', replayedLogRecords: 3, skippedLogRecords: 1, lastSkipped: { seq: 2, reason: 'Invalid array length' } });
    expect(stores.features.feature('n').read('a', 'lifetime', T0).value).toBe(2);
    expect(stores.features.feature('n').read('b', 'lifetime', T0).value).toBe(1);
    const skipped = (await metrics.registry.getSingleMetric('tally_internal_errors_total')!.get()).values.find((v) => v.labels.where === 'replay');
    expect(skipped?.value).toBe(1);
    // Ingest is open again and logs after the replayed records.
    expect(await ingest.ingest('tx', [{ card: 'b', ts: T0 }])).toMatchObject({ accepted: 1 });
    expect(recovery.ingestLog?.lastSeq).toBe(4);
    await recovery.ingestLog?.close();
  });

  it('answers ingest at once, instead of holding it, when the restore fails', async () => {
    const { ingest, health, recovery } = compose(EventProcessor);
    await recovery.prepare();
    // The log is closed under the restore: replay fails.
    await recovery.ingestLog!.close();
    rmSync(join(dataDir, 'log'), { recursive: true, force: true });
    const pending = ingest.ingest('tx', [{ card: 'a', ts: T0 }]);
    await recovery.run();
    expect(health.restore?.state).toBe('failed');
    await expect(pending).rejects.toThrow(/ingest is closed/);
  });
});
