// Tally as a process on servers in two time zones that are not UTC (TZ=America/New_York,
// UTC-5/-4, and TZ=Asia/Kolkata, UTC+5:30): a time written without a zone means the same
// instant on both, in events, in GraphQL DateTime arguments and in leaderboard periods.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ready, startTallyProcess, stopTallyProcess, type TallyProcess } from '../support/tally-process.js';

const PIPELINE = `
sources: [{ name: tx, timestamp: ts, lateness: 30d }]
features:
  - { name: n, source: tx, entity: card, aggregation: count, windows: [1h] }
leaderboards:
  - { name: hourly, source: tx, member: card, score: amount, mode: incr, period: hour, keep: 48 }
`;

/** ISO-8601 of `ms` without its zone: `2026-11-25T13:00:00.000`. */
const zoneless = (ms: number) => new Date(ms).toISOString().slice(0, -1);

async function gql<T>(url: string, query: string): Promise<T> {
  const res = await fetch(`${url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query }) });
  const body = (await res.json()) as { data?: T; errors?: unknown[] };
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data!;
}

describe.each(['America/New_York', 'Asia/Kolkata'])('a server in %s', (zone) => {
  let dir: string;
  let tally: TallyProcess;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tally-tz-'));
    writeFileSync(join(dir, 'pipeline.yaml'), PIPELINE);
    tally = await startTallyProcess({ TZ: zone, KAFKA_BROKERS: '', TALLY_PIPELINE: join(dir, 'pipeline.yaml'), TALLY_API_KEYS: '' });
    await ready(tally.url);
  });
  afterAll(async () => {
    await stopTallyProcess(tally);
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads event times, DateTime arguments and periods without a zone as UTC', async () => {
    // Half an hour ago in UTC: read as local time it would be hours ahead (refused as future)
    // or hours behind (outside the 1h window).
    const at = Date.now() - 30 * 60_000;
    const res = await fetch(`${tally.url}/ingest/tx`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify([{ card: 'c1', amount: 5, ts: zoneless(at) }, { card: 'c2', amount: 7, ts: new Date(at).toISOString() }]),
    });
    expect(await res.json()).toEqual({ accepted: 2, rejected: 0, errors: [] });
    const read = await gql<{ a: { value: number; lastEventAt: string }; b: { value: number } }>(
      tally.url,
      '{ a: feature(name: "n", entity: "c1", window: "1h") { value lastEventAt } b: feature(name: "n", entity: "c2", window: "1h") { value } }',
    );
    expect(read.a).toEqual({ value: 1, lastEventAt: new Date(at).toISOString() });
    expect(read.b.value).toBe(1);

    const digests = await gql<{ local: { at: string; digest: string }; utc: { at: string; digest: string } }>(
      tally.url,
      `{ local: digest(at: "${zoneless(at)}") { at digest } utc: digest(at: "${new Date(at).toISOString()}") { at digest } }`,
    );
    expect(digests.local).toEqual(digests.utc);
    expect(digests.local.at).toBe(new Date(at).toISOString());

    const hour = Math.floor(at / 3_600_000) * 3_600_000;
    const boards = await gql<{ local: { member: string; score: number }[]; utc: { member: string; score: number }[] }>(
      tally.url,
      `{ local: leaderboard(name: "hourly", period: "${zoneless(hour + 60_000).slice(0, 16)}") { member score } utc: leaderboard(name: "hourly", period: "${new Date(hour + 60_000).toISOString()}") { member score } }`,
    );
    expect(boards.utc).toEqual([
      { member: 'c2', score: 7 },
      { member: 'c1', score: 5 },
    ]);
    expect(boards.local).toEqual(boards.utc);
  });
});
