// Crash recovery against a real broker: Tally (dist/main.js, a child process with a data
// directory) is killed with SIGKILL six times while a producer writes a known event stream,
// half of the kills while a snapshot is being written; after the last restart its stores
// equal a model of every message in the topics and, digest for digest, a Tally that read the
// same topics once without crashing. `npm run crash-test -- --kills 20` runs it longer.
import { crashRun } from '../support/crash-run.js';
import { requireKafka } from '../support/kafka.js';

describe('crash recovery', () => {
  it('loses nothing and counts nothing twice across six SIGKILLs, some during snapshot writes', async () => {
    const r = await crashRun({ brokers: requireKafka(), kills: 6, events: 12_000, rate: 400 });
    expect(r.kills).toHaveLength(6);
    expect(r.killsDuringSnapshotWrite).toBeGreaterThanOrEqual(1);
    expect(r.messages.tx).toBeGreaterThanOrEqual(12_000);
    expect(r.cards).toBeGreaterThan(250);
    expect({ lost: r.lost, doubleCounted: r.doubleCounted, mismatches: r.mismatches }).toEqual({ lost: 0, doubleCounted: 0, mismatches: [] });
    expect(r.digest.differing).toEqual([]);
    expect(r.digest.crashed).toBe(r.digest.reference);
    expect(r.snapshotsWritten).toBeGreaterThan(0);
    process.stderr.write(
      `[crash] ${r.kills.length} kills (${r.killsDuringSnapshotWrite} during snapshot writes; states ${r.kills.map((k) => k.state).join(', ')}), ` +
        `${r.messages.tx + r.messages.pos} messages, ${r.snapshotsWritten} snapshots, lost ${r.lost}, double-counted ${r.doubleCounted}, ${(r.durationMs / 1000).toFixed(0)} s\n`,
    );
  }, 300_000);
});
