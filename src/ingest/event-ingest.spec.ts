import { ChangeFeed, type Change } from '../changes/change-feed.js';
import { createLogger } from '../ops/logger.js';
import { Metrics } from '../ops/metrics.js';
import { parsePipeline } from '../pipeline/load.js';
import { EventIngest, INGEST_SLICE, type IngestJournal } from './event-ingest.js';
import { EventProcessor } from './event-processor.js';
import { IngestGate } from './ingest-gate.js';
import { Router } from './router.js';
import { storesFor } from '../../test/support/stores.js';

// `last` makes the order of application visible: the later arrival wins on equal times.
const pipeline = parsePipeline(`
sources: [{ name: tx, timestamp: ts, lateness: 1h }]
features:
  - { name: n, source: tx, entity: card, aggregation: count, windows: [1h] }
  - { name: v, source: tx, entity: card, aggregation: last, field: amount, windows: [1h] }
`);
const T = Date.UTC(2026, 10, 25, 12);

function setup() {
  const stores = storesFor(pipeline);
  const store = stores.features;
  const processor = new EventProcessor(new Router(pipeline), stores, new ChangeFeed<Change>(), new Metrics(), createLogger('silent'), () => T);
  const gate = new IngestGate();
  return { store, gate, processor, sut: new EventIngest(processor, gate, () => T) };
}

const events = (n: number, amount: (i: number) => number, card = () => 'a') => Array.from({ length: n }, (_, i) => ({ card: card(), amount: amount(i), ts: T }));

describe(EventIngest.name, () => {
  it('applies a large call in slices, yielding the event loop between them, with the result of one pass', async () => {
    const { sut, store } = setup();
    const n = INGEST_SLICE * 5 + 7;
    const batch = events(n, (i) => i);
    batch[3] = { card: 'a', ts: T } as never; // refused: missing amount
    batch[n - 1] = { card: 'a', amount: 'x', ts: T } as never; // refused: wrong type
    let turns = 0;
    let counting = true;
    const count = () => {
      if (!counting) return;
      turns++;
      setImmediate(count);
    };
    setImmediate(count);
    const out = await sut.ingest('tx', batch);
    counting = false;
    expect(turns).toBeGreaterThanOrEqual(3); // the loop ran while the call was applied
    expect(out.accepted).toBe(n - 2);
    expect(out.errors.map((e) => e.index)).toEqual([3, n - 1]);
    expect(store.read('n', 'a', '1h', T).value).toBe(n - 2);
    expect(store.read('v', 'a', '1h', T).value).toBe(n - 2); // the last good event, applied last
  });

  it('applies concurrent calls one at a time, in the order they were made (as the journal logs them)', async () => {
    const { sut, store } = setup();
    const logged: number[] = [];
    const journal: IngestJournal = { fsync: 'everysec', append: (_s, ev) => (logged.push((ev[0] as { amount: number }).amount), logged.length), sync: async () => undefined };
    sut.useJournal(journal);
    const n = INGEST_SLICE * 3;
    const a = sut.ingest('tx', events(n, () => 1));
    const b = sut.ingest('tx', events(n, () => 2));
    const c = sut.ingest('tx', events(1, () => 3, () => 'b'));
    // While the first call yields, the value of `a` must only ever show a's events.
    const seen: (number | null)[] = [];
    let watching = true;
    const watch = () => {
      seen.push(store.read('v', 'a', '1h', T).value);
      if (watching) setImmediate(watch);
    };
    setImmediate(watch);
    await Promise.all([a, b, c]);
    watching = false;
    // b's events only after all of a's: never 1 once 2 was seen
    expect(seen.slice(seen.indexOf(2)).every((v) => v === 2)).toBe(true);
    expect(seen).toContain(1);
    expect(logged).toEqual([1, 2, 3]);
    expect(store.read('v', 'a', '1h', T).value).toBe(2);
    expect(store.read('n', 'a', '1h', T).value).toBe(2 * n);
    expect(store.read('n', 'b', '1h', T).value).toBe(1);
  });

  it('holds the gate across its slices: a snapshot waits for the whole call', async () => {
    const { sut, gate, store } = setup();
    const n = INGEST_SLICE * 4;
    const call = sut.ingest('tx', events(n, () => 1));
    await new Promise((r) => setImmediate(r)); // the call is between two slices now
    await gate.pause();
    expect(store.read('n', 'a', '1h', T).value).toBe(n);
    gate.resume();
    await call;
  });

  it('refuses calls once the gate is closed, and later calls still run', async () => {
    const { sut, gate } = setup();
    gate.close();
    await expect(sut.ingest('tx', events(1, () => 1))).rejects.toThrow('shutting down');
    await expect(sut.ingest('tx', events(1, () => 1))).rejects.toThrow('shutting down');
  });
});
