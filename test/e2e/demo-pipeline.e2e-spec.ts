// The bundled demo pipeline's features count what their names say, read as the dashboard
// queries (examples/dashboard/queries.graphql) read them.
import { readFileSync } from 'node:fs';
import { DEMO_PIPELINE_PATH } from '../../src/pipeline/load.js';
import { eventually, gqlData, startTally, type RunningTally } from '../support/app.js';

const AIRPORT = { lat: 40.6413, lon: -73.7781 };
const DOWNTOWN = { lat: 40.7128, lon: -74.006 };
const MIDTOWN = { lat: 40.758, lon: -73.9855 }; // in no fence

describe('the demo pipeline', () => {
  let tally: RunningTally;
  beforeAll(async () => {
    tally = await startTally(readFileSync(DEMO_PIPELINE_PATH, 'utf8'));
  });
  afterAll(() => tally?.close());

  it('counts every crossing of each fence as fence_crossings, and only the entries (where: kind == "enter") as fence_entries', async () => {
    const t0 = Date.now() - 60_000;
    const moves = [
      { driver_id: 'd-1', ...MIDTOWN }, // first position: in no fence, no crossing
      { driver_id: 'd-1', ...AIRPORT }, // enters airport
      { driver_id: 'd-1', ...MIDTOWN }, // exits airport
      { driver_id: 'd-1', ...AIRPORT }, // enters airport
      { driver_id: 'd-2', ...MIDTOWN },
      { driver_id: 'd-2', ...DOWNTOWN }, // enters downtown
    ].map((m, i) => ({ ...m, ts: t0 + i * 1_000 }));
    for (const m of moves) {
      const r = await gqlData<{ ingest: { accepted: number } }>(tally.url, 'mutation($e: [JSON!]!) { ingest(source: "driver_locations", events: $e) { accepted } }', { e: [m] });
      expect(r.ingest.accepted).toBe(1);
    }
    const read = () =>
      gqlData<{ crossings: { entity: string; values: (number | null)[] }[] }>(
        tally.url,
        '{ crossings: onlineFeatures(entities: ["airport", "downtown"], features: ["fence_crossings:15m", "fence_crossings:1h", "fence_entries:15m", "fence_entries:1h"]) { entity values } }',
      );
    await eventually('the fence events to be counted', async () => (await read()).crossings[0].values[0] === 3);
    expect((await read()).crossings).toEqual([
      { entity: 'airport', values: [3, 3, 2, 2] },
      { entity: 'downtown', values: [1, 1, 1, 1] },
    ]);
  });
});
