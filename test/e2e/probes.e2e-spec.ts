// The Kubernetes probes in embedded mode, with keys required: /livez and /readyz answer
// without a key (as /health and /metrics do) with the health report; a ready embedded instance
// is `ok` and never `degraded` (there is no Kafka to lose).
import { eventually, startTally, type RunningTally } from '../support/app.js';

const PIPELINE = `
sources:
  - { name: transactions, timestamp: ts, lateness: 1h }
features:
  - { name: card_txn_count, source: transactions, entity: card_id, aggregation: count, windows: [1h] }
`;

describe('probes', () => {
  let tally: RunningTally;

  beforeAll(async () => {
    tally = await startTally(PIPELINE, { TALLY_API_KEYS: 'reader-key-7f3a9c2e5b1d:reader' });
    await eventually('Tally to be ready', async () => (await fetch(`${tally.url}/health`)).status === 200);
  });
  afterAll(() => tally.close());

  it.each(['/livez', '/readyz'])('%s answers 200 without a key, with the health report', async (path) => {
    const res = await fetch(`${tally.url}${path}`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ status: 'ok', mode: 'embedded' });
    expect(body.kafka).toBeUndefined();
    expect(body.reason).toBeUndefined();
  });
});
