import { Metrics } from './metrics.js';

describe(Metrics.name, () => {
  it('adds pending accepted-event counts to the counter whenever it is read', async () => {
    const m = new Metrics();
    m.acceptedCount('tx').n += 3;
    m.acceptedCount('clicks').n++;
    expect((await m.eventsAccepted.get()).values.map((v) => [v.labels.source, v.value])).toEqual([
      ['tx', 3],
      ['clicks', 1],
    ]);
    m.acceptedCount('tx').n += 2;
    expect(await m.text()).toContain('tally_events_accepted_total{source="tx"} 5');
  });
});
