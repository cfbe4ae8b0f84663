// The crash test at length: `npm run crash-test -- --kills 20` (builds first). Tally runs as a
// child process with a data directory, is killed with SIGKILL --kills times while a producer
// writes a known event stream (half of the kills while a snapshot is being written), and at
// the end must have lost nothing and counted nothing twice (test/support/crash-run.ts).
//
// Options: --kills N (20), --events N (2,500 per kill), --rate N events/s (400), --seed N.
// Uses KAFKA_BROKERS when set, else starts a single-node broker (scripts/kafka/broker.ts).
import { parseArgs } from 'node:util';
import { crashRun } from '../test/support/crash-run.js';
import { startKafka, type KafkaBroker } from './kafka/broker.js';

const { values } = parseArgs({
  options: { kills: { type: 'string', default: '20' }, events: { type: 'string' }, rate: { type: 'string', default: '400' }, seed: { type: 'string' } },
});
const kills = Number(values.kills);
if (!Number.isInteger(kills) || kills < 2) throw new Error(`--kills must be a whole number >= 2, got ${values.kills}`);
const events = values.events === undefined ? kills * 2_500 : Number(values.events);

let broker: KafkaBroker | undefined;
let brokers = process.env.KAFKA_BROKERS?.trim();
if (!brokers) {
  console.log('starting a Kafka broker…');
  broker = await startKafka();
  brokers = broker.brokers;
}
const log = (line: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${line}`);
try {
  log(`crash test: ${kills} kills, ${events} events at ${values.rate}/s, brokers ${brokers}`);
  const r = await crashRun({ brokers, kills, events, rate: Number(values.rate), seed: values.seed === undefined ? undefined : Number(values.seed), log });
  const ok = r.lost === 0 && r.doubleCounted === 0 && r.mismatches.length === 0 && r.digest.differing.length === 0 && r.killsDuringSnapshotWrite > 0;
  console.log(
    [
      '',
      `kills:                 ${r.kills.length} (${r.killsDuringSnapshotWrite} during a snapshot write)`,
      `state at each kill:    ${r.kills.map((k) => k.state).join(', ')}`,
      `messages:              ${r.messages.tx} transactions (${r.messages.refused} malformed), ${r.messages.pos} positions, over ${r.cards} cards`,
      `snapshots written:     ${r.snapshotsWritten}`,
      `lost:                  ${r.lost}`,
      `double-counted:        ${r.doubleCounted}`,
      `other mismatches:      ${r.mismatches.length === 0 ? 'none' : r.mismatches.slice(0, 10).join('; ')}`,
      `digest vs reference:   ${r.digest.differing.length === 0 ? `equal (${r.digest.crashed.slice(0, 16)}…)` : `differs in ${r.digest.differing.join(', ')}`}`,
      `duration:              ${(r.durationMs / 1000).toFixed(0)} s`,
      ok ? 'PASS' : 'FAIL',
    ].join('\n'),
  );
  process.exitCode = ok ? 0 : 1;
} finally {
  await broker?.stop();
}
