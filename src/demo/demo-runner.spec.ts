import { parsePipeline } from '../pipeline/load.js';
import { DemoGenerator, type DemoEvent } from './demo-generator.js';
import { DemoRunner, type DemoSink } from './demo-runner.js';

/** A sink that keeps what it gets and refuses `card_updates`. */
function recordingSink() {
  const got = new Map<string, DemoEvent[]>();
  const sink: DemoSink = {
    name: 'test sink',
    async send(source, events) {
      got.set(source, [...(got.get(source) ?? []), ...events]);
      return source === 'card_updates' ? { accepted: 0, rejected: events.length, firstError: 'invalid-value: nope' } : { accepted: events.length, rejected: 0 };
    },
    close: async () => {},
  };
  return { sink, got };
}

describe(DemoRunner.name, () => {
  const pipeline = parsePipeline(`
sources: [{ name: transactions, timestamp: ts }, { name: card_updates, timestamp: ts }]
features: [{ name: n, source: transactions, entity: card_id, aggregation: count, windows: [1m] }]
views: [{ name: v, source: card_updates, entity: card_id, fields: { blocked: boolean } }]
`);

  it("sends each step's events grouped by source, only to sources the pipeline declares, and counts refusals", async () => {
    const { sink, got } = recordingSink();
    const warnings: string[] = [];
    const runner = new DemoRunner(new DemoGenerator({ seed: 1, cards: 100 }), sink, pipeline, { clock: () => Date.UTC(2026, 0, 1), warn: (m) => warnings.push(m) });
    await runner.run(40, 250);
    expect([...got.keys()].sort()).toEqual(['card_updates', 'transactions']);
    expect(got.get('card_updates')!.length).toBeGreaterThanOrEqual(100);
    expect(runner.totals.sent).toBe(got.get('transactions')!.length);
    expect(runner.totals.rejected).toBe(got.get('card_updates')!.length);
    // each problem is said once, however often it happens
    expect(warnings).toEqual([
      'demo: the pipeline has no source "driver_locations"; its events are not sent',
      expect.stringContaining('demo: test sink refused 100 card_updates events (first: invalid-value: nope)'),
      'demo: the pipeline has no source "game_scores"; its events are not sent',
    ]);
  });

  it('reports a failing sink once and keeps going', async () => {
    const warnings: string[] = [];
    const sink: DemoSink = { name: 'down', send: () => Promise.reject(new Error('connection refused')), close: async () => {} };
    const runner = new DemoRunner(new DemoGenerator({ seed: 1, cards: 10 }), sink, pipeline, { warn: (m) => warnings.push(m) });
    await runner.run(10);
    expect(runner.totals.failures).toBeGreaterThan(5);
    expect(warnings.filter((w) => w.includes('connection refused'))).toEqual([
      'demo: sending card_updates events to down failed: connection refused',
      'demo: sending transactions events to down failed: connection refused',
    ]);
  });
});
