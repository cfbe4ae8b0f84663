// TALLY_MAX_ONLINE_ENTITIES and TALLY_LEADERBOARD_MAX_HZ are validated settings: a bad value
// stops start-up with the value quoted, a good one is what the running service applies.
import { spawnSync } from 'node:child_process';
import { collect, gql, startTally, wsClient, type RunningTally } from '../support/app.js';

const PIPELINE = `
sources:
  - { name: transactions, timestamp: ts, lateness: 1h }
  - { name: game_scores }
features:
  - { name: card_txn_count, source: transactions, entity: card_id, aggregation: count, windows: [1h] }
leaderboards:
  - { name: top_players, source: game_scores, member: player_id, score: points, mode: incr, period: all }
`;

describe('validated limits', () => {
  it('refuses to start on a bad TALLY_MAX_ONLINE_ENTITIES or TALLY_LEADERBOARD_MAX_HZ, quoting each (dist/main.js)', () => {
    const r = spawnSync(process.execPath, ['dist/main.js'], {
      env: { ...process.env, PORT: '0', HOST: '127.0.0.1', KAFKA_BROKERS: '', TALLY_PIPELINE: '', TALLY_DEMO: '0', TALLY_MAX_ONLINE_ENTITIES: 'lots', TALLY_LEADERBOARD_MAX_HZ: 'fast' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect([r.status, r.stderr]).toEqual([1, expect.stringContaining('tally: cannot start')]);
    expect(r.stderr).toContain('TALLY_MAX_ONLINE_ENTITIES: "lots" must be an integer >= 1');
    expect(r.stderr).toContain('TALLY_LEADERBOARD_MAX_HZ: "fast" must be a number of times per second above 0 and at most 1000');
  });

  describe('applied', () => {
    let tally: RunningTally;
    beforeAll(async () => {
      tally = await startTally(PIPELINE, { TALLY_MAX_ONLINE_ENTITIES: '3', TALLY_LEADERBOARD_MAX_HZ: '2' });
    });
    afterAll(() => tally?.close());

    it('caps the entities of one onlineFeatures call at TALLY_MAX_ONLINE_ENTITIES', async () => {
      const ask = (n: number) => gql(tally.url, `{ onlineFeatures(entities: ${JSON.stringify(Array.from({ length: n }, (_, i) => `c${i}`))}, features: ["card_txn_count:1h"]) { entity } }`);
      expect((await ask(3)).errors).toBeUndefined();
      const refused = await ask(4);
      expect(JSON.stringify(refused.errors)).toContain('entities must contain no more than 3 elements');
    });

    it('pushes a live leaderboard at most TALLY_LEADERBOARD_MAX_HZ times a second, the last change included', async () => {
      const client = wsClient(tally.url);
      const pushes: number[] = [];
      const sub = collect<{ leaderboardChanged: { member: string; score: number }[] }>(client, 'subscription { leaderboardChanged(name: "top_players", top: 1) { member score } }');
      try {
        await sub.next(1); // the current top
        const started = Date.now();
        // a new leader every 50 ms for 1.5 s: 30 changes
        for (let i = 1; i <= 30; i++) {
          const r = await fetch(`${tally.url}/ingest/game_scores`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify([{ player_id: `p${i}`, points: i * 10 }]) });
          expect(r.status).toBe(200);
          await new Promise((res) => setTimeout(res, 50));
        }
        const last = await (async () => {
          for (;;) {
            const items = sub.items;
            const top = items[items.length - 1]?.leaderboardChanged[0];
            if (top?.member === 'p30') return items.length;
            if (Date.now() - started > 10_000) throw new Error(`no push of the last leader; got ${JSON.stringify(items.slice(-3))}`);
            await new Promise((res) => setTimeout(res, 20));
          }
        })();
        pushes.push(last - 1, Date.now() - started);
        // 2 per second over about 2 s: at most 5 pushes after the first (10 Hz would give ~15)
        expect(pushes[0]).toBeGreaterThanOrEqual(2);
        expect(pushes[0]).toBeLessThanOrEqual(Math.ceil((pushes[1] / 1000) * 2) + 1);
      } finally {
        sub.dispose();
        await client.dispose();
      }
    });
  });
});
