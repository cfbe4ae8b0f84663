// Live values of topk features: featureUpdated pushes the list when it changes, also when tiles
// leaving the window change only a lighter item; featureThreshold watches the heaviest count.
import { jest } from '@jest/globals';
import { parsePipeline } from '../../pipeline/load.js';
import { ingestPathFor } from '../../../test/support/stores.js';
import { FeatureLiveService } from './feature-live.service.js';
import type { FeatureValue } from './models/feature-value.model.js';
import type { ThresholdCrossing } from './models/threshold-crossing.model.js';

const pipeline = parsePipeline(`
sources: [{ name: tx, timestamp: ts, lateness: 1h }]
features:
  - { name: merchants, source: tx, entity: card, aggregation: topk, field: merchant, k: 2, windows: [5s] }
`);
const T0 = Date.UTC(2026, 10, 26, 12);

describe('topk live values (fake clock)', () => {
  afterEach(() => jest.useRealTimers());

  /** Lets due timers run and the queues release (a real setImmediate) what they hold. */
  async function settle(): Promise<void> {
    await jest.advanceTimersByTimeAsync(0);
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
  }

  async function advance(ms: number): Promise<void> {
    for (let left = ms; left > 0; left -= 250) {
      await jest.advanceTimersByTimeAsync(Math.min(left, 250));
      await settle();
    }
  }

  function setup() {
    jest.useFakeTimers({ now: T0, doNotFake: ['setImmediate'] });
    const clock = () => Date.now();
    const { stores, changes, processor } = ingestPathFor(pipeline, clock);
    const live = new FeatureLiveService(stores.features, changes, clock);
    const pay = (merchant: string, n = 1) => {
      for (let i = 0; i < n; i++) expect(processor.ingest('tx', [{ card: 'c', merchant, ts: clock() }]).accepted).toBe(1);
    };
    function drain<T>(queue: AsyncIterable<T>): T[] {
      const got: T[] = [];
      void (async () => {
        for await (const v of queue) got.push(v);
      })();
      return got;
    }
    return { live, pay, drain };
  }

  const shape = (v: FeatureValue) => ({ value: v.value, top: v.top?.map((x) => `${x.item}:${x.count}`), unlisted: v.unlistedAtMost });

  it('featureUpdated pushes the list after events and as tiles leave, also when only a lighter item leaves', async () => {
    const { live, pay, drain } = setup();
    const got = drain(live.featureUpdated('merchants', 'c', '5s'));
    pay('small');
    await settle();
    await advance(3_000);
    pay('big', 3);
    await settle();
    // The tile holding "small" leaves the window (5 s and one 250 ms tile later): the top count
    // stays 3, but the list changes. Then "big" leaves and the window drains.
    await advance(3_000);
    await advance(5_000);
    expect(got.map(shape)).toEqual([
      { value: 1, top: ['small:1'], unlisted: 0 },
      { value: 3, top: ['big:3', 'small:1'], unlisted: 0 },
      { value: 3, top: ['big:3'], unlisted: 0 },
      { value: null, top: [], unlisted: 0 },
    ]);
    expect(jest.getTimerCount()).toBe(0);
  });

  it("featureThreshold crosses on the heaviest item's count, and re-arms when it falls", async () => {
    const { live, pay, drain } = setup();
    const crossings = drain<ThresholdCrossing>(live.featureThreshold('merchants', '5s', { above: 2 }));
    pay('a', 2);
    pay('b', 2);
    await settle();
    expect(crossings).toEqual([]);
    pay('b');
    await settle();
    expect(crossings.map((c) => [c.entity, c.value, c.direction])).toEqual([['c', 3, 'above']]);
    await advance(6_000); // drained: re-armed
    pay('a', 3);
    await settle();
    expect(crossings.map((c) => [c.entity, c.value])).toEqual([
      ['c', 3],
      ['c', 3],
    ]);
  });
});
