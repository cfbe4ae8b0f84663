// Start-up as a user meets it: the built service, run as a process.
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { startTallyProcess, stopTallyProcess } from '../support/tally-process.js';

const MAIN = 'dist/main.js';

function run(env: Record<string, string>) {
  return spawnSync(process.execPath, [MAIN], { env: { ...process.env, PORT: '0', ...env }, encoding: 'utf8', timeout: 30_000 });
}

describe('start-up', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tally-startup-'));

  it('refuses a pipeline file with three mistakes, naming all three by path', () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(
      file,
      `sources:
  - name: transactions
features:
  - { name: a, source: transactions, entity: card_id, aggregation: count, windows: [1m, 5x] }
  - { name: b, source: transactionz, entity: card_id, aggregation: count, windows: [1h] }
  - { name: a, source: transactions, entity: card_id, aggregation: count, windows: [1h] }
`,
    );
    const r = run({ TALLY_PIPELINE: file });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('3 problems in the pipeline file');
    expect(r.stderr).toContain('features[0].windows[1]: "5x" is not a duration');
    expect(r.stderr).toContain('features[1].source: unknown source "transactionz"');
    expect(r.stderr).toContain('features[2].name: duplicate name "a" (also features[0])');
  });

  it('lists bad settings and a bad pipeline together', () => {
    const r = run({ TALLY_PIPELINE: join(dir, 'missing.yaml'), PORT: 'eighty', TALLY_FSYNC: 'sometimes' });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('PORT: "eighty" is not a port number');
    expect(r.stderr).toContain('TALLY_FSYNC: "sometimes" must be always or everysec');
  });

  it('never echoes an API key in a settings error', () => {
    const r = run({ TALLY_API_KEYS: 'supersecretkey-0123456789:emperor' });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('TALLY_API_KEYS: entry 1 has role "emperor"');
    expect(r.stderr).not.toContain('supersecretkey');
  });

  it('serves the demo pipeline in embedded mode as a process, and stops cleanly on SIGTERM', async () => {
    const port = await freePort();
    const child = spawn(process.execPath, [MAIN], { env: { ...process.env, PORT: String(port), TALLY_PIPELINE: '', KAFKA_BROKERS: '', TALLY_LOG_LEVEL: 'info', TALLY_DEMO: '0' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    try {
      const start = Date.now();
      while (!out.includes('tally is serving')) {
        if (child.exitCode !== null || Date.now() - start > 30_000) throw new Error(`did not start: ${out}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      const url = `http://127.0.0.1:${port}`;
      expect((await fetch(`${url}/health`)).status).toBe(200);
      const ts = Date.now();
      const ingest = await fetch(`${url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query: 'mutation($e: [JSON!]!) { ingest(source: "transactions", events: $e) { accepted } }', variables: { e: [{ card_id: 'p1', amount: 3, merchant_id: 'm', ts }, { card_id: 'p1', amount: 4, merchant_id: 'm', ts }] } }),
      });
      expect(await ingest.json()).toEqual({ data: { ingest: { accepted: 2 } } });
      const q = await fetch(`${url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ feature(name: "card_txn_count", entity: "p1", window: "1h") { value } }' }) });
      expect(await q.json()).toEqual({ data: { feature: { value: 2 } } });
      expect(await (await fetch(`${url}/metrics`)).text()).toContain('tally_events_accepted_total{source="transactions"} 2');
    } finally {
      child.kill('SIGTERM');
    }
    const [code] = await once(child, 'exit');
    expect(code).toBe(0);
  });

  it('stops on SIGTERM with a subscriber connected, telling it the server is going away (1001)', async () => {
    const p = await startTallyProcess({ KAFKA_BROKERS: '', TALLY_PIPELINE: '' });
    const ws = new WebSocket(`${p.url.replace(/^http/, 'ws')}/graphql`, 'graphql-transport-ws');
    await once(ws, 'open');
    ws.send(JSON.stringify({ type: 'connection_init' }));
    await once(ws, 'message');
    ws.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: 'subscription { featureUpdated(name: "card_txn_count", entity: "p1", window: "1h") { value } }' } }));
    const closed = once(ws, 'close');
    const started = Date.now();
    const exit = await stopTallyProcess(p, 'SIGTERM');
    // An open WebSocket kept the HTTP server's close waiting, and the process never exited.
    expect(exit).toEqual({ code: 0, signal: null });
    expect(Date.now() - started).toBeLessThan(8_000); // Apollo's drain gives up waiting on HTTP connections after 10 s
    expect((await closed)[0]).toBe(1001);
  });

  it('has a committed schema.gql equal to the one the resolvers generate', () => {
    const out = join(dir, 'schema.gql');
    const r = spawnSync(process.execPath, ['dist/schema.js', out], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status).toBe(0);
    expect(readFileSync(out, 'utf8')).toBe(readFileSync('schema.gql', 'utf8'));
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}
