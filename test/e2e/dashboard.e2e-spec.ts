// The dashboard and GraphiQL in a real browser (headless Debian Chromium via playwright-core),
// against the app in embedded mode with the demo pipeline: what a person would see.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import type { Page } from 'playwright-core';
import type { ClusterReport } from '../../src/cluster/cluster-report.js';
import { DEMO_PIPELINE_PATH } from '../../src/pipeline/load.js';
import { CHROMIUM_INSTALL_TIMEOUT_MS, ensureWebAssets, launchChromium, RESULTS_DIR, type Chromium } from '../support/browser.js';
import { gqlData, startTally, type RunningTally } from '../support/app.js';

const WAIT = { timeout: 15_000 };

describe('dashboard and GraphiQL in a browser', () => {
  let tally: RunningTally;
  let browser: Chromium;
  const now = () => Date.now();
  const ingest = async (source: string, events: unknown[]) => {
    const r = await gqlData<{ ingest: { accepted: number; rejected: number } }>(tally.url, 'mutation($s: String!, $e: [JSON!]!) { ingest(source: $s, events: $e) { accepted rejected } }', { s: source, e: events });
    expect(r.ingest).toEqual({ accepted: events.length, rejected: 0 });
  };
  /**
   * A page that fails the test on script errors and on any request leaving Tally (no CDN), with
   * the bodies of its GraphQL POSTs and of the WebSocket frames it sends, from the start.
   */
  const open = async (path: string): Promise<{ page: Page; problems: string[]; graphql: string[]; frames: string[] }> => {
    const page = await browser.context.newPage();
    const problems: string[] = [];
    const graphql: string[] = [];
    const frames: string[] = [];
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('request', (r) => {
      if (r.method() === 'POST' && new URL(r.url()).pathname === '/graphql') graphql.push(r.postData() ?? '');
    });
    page.on('websocket', (ws) => ws.on('framesent', (f) => frames.push(String(f.payload))));
    await page.route('**/*', (route) => {
      if (route.request().url().startsWith(tally.url)) return route.continue();
      problems.push(`request outside Tally: ${route.request().url()}`);
      return route.abort();
    });
    await page.goto(`${tally.url}${path}`);
    return { page, problems, graphql, frames };
  };

  beforeAll(async () => {
    // First, as it may install Debian's chromium (root and apt-get; a minute or so).
    browser = await launchChromium();
    await ensureWebAssets();
    tally = await startTally(readFileSync(DEMO_PIPELINE_PATH, 'utf8'));
  }, CHROMIUM_INSTALL_TIMEOUT_MS);
  afterAll(async () => {
    await browser?.close();
    await tally?.close();
  });

  it('updates leaderboards, counters, charts, alerts and the map in place as events arrive', async () => {
    const { page, problems, graphql, frames } = await open('/');
    await page.waitForSelector('body[data-ready="true"]', WAIT);
    await page.waitForSelector('#conn[data-state="connected"]', WAIT);
    await page.evaluate('window.sameDocument = true');
    const text = (selector: string) => page.locator(selector).first().textContent();
    await page.waitForSelector('[data-testid="stat-accepted"]:text-is("0")', WAIT);

    // leaderboard: rows appear, then reorder when a score changes
    const board = '[data-testid="leaderboard-top_players"]';
    await ingest('game_scores', [
      { player_id: 'ada', points: 50 },
      { player_id: 'bob', points: 30 },
    ]);
    await page.waitForSelector(`${board} li[data-member="ada"][data-rank="1"]`, WAIT);
    await page.waitForSelector(`${board} li[data-member="bob"][data-rank="2"]`, WAIT);
    await ingest('game_scores', [{ player_id: 'bob', points: 40 }]);
    await page.waitForSelector(`${board} li[data-member="bob"][data-rank="1"]`, WAIT);
    expect(await page.locator(`${board} li`).evaluateAll((lis) => lis.map((li) => `${li.querySelector('.rank')?.textContent} ${li.dataset.member} ${li.querySelector('.score')?.textContent}`))).toEqual(['1 bob 70', '2 ada 50']);

    // counter: events accepted
    await page.waitForSelector('[data-testid="stat-accepted"]:text-is("3")', WAIT);

    // a chart chosen in the form follows the entity's window value
    await page.selectOption('#charts-panel select[aria-label="feature"]', 'card_txn_count');
    await page.selectOption('#charts-panel select[aria-label="window"]', '5m');
    await page.fill('#charts-panel input[aria-label="entity"]', 'card-0001');
    await page.click('#charts-panel button[type="submit"]');
    const chart = '[data-chart="card_txn_count:5m:card-0001"]';
    await page.waitForSelector(`${chart}[data-value="0"]`, WAIT);
    await ingest('transactions', [1, 2, 3].map((i) => ({ card_id: 'card-0001', amount: 10 * i, merchant_id: `m-00${i}`, ts: now() })));
    await page.waitForSelector(`${chart}[data-value="3"]`, WAIT);
    expect(await text(`${chart} [data-testid="chart-value"]`)).toBe('3');

    // threshold alerts: the default watch (card_txn_count over 1m above 8) lists a burst
    await ingest('transactions', Array.from({ length: 9 }, (_, i) => ({ card_id: 'card-0666', amount: 400 + i, merchant_id: `m-1${i}`, ts: now() })));
    await page.waitForSelector('[data-testid="alerts"] li:has-text("card-0666")', WAIT);
    expect(await text('[data-testid="alert-count"]')).toBe('1');

    // map: members drawn, fence crossings listed
    await ingest('driver_locations', [
      { driver_id: 'driver-01', lat: 40.6413, lon: -73.7781, ts: now() }, // JFK, inside the airport fence
      { driver_id: 'driver-02', lat: 40.7128, lon: -74.006, ts: now() }, // downtown
      { driver_id: 'driver-03', lat: 40.758, lon: -73.9855, ts: now() }, // Midtown, in no fence
    ]);
    await page.waitForSelector('[data-testid="map"][data-points="3"]', WAIT);
    await page.waitForSelector('[data-testid="fence-events"] li:has-text("driver-01")', WAIT);
    expect(await text('.map-legend')).toContain('airport 1 inside');
    expect(await text('.map-legend')).toContain('downtown 1 inside');
    // the map canvas has been drawn (some non-background pixels)
    // (page functions are strings: this project compiles without the DOM library)
    const drawn = await page.evaluate(`(() => {
      const c = document.querySelector('.map-canvas');
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      let lit = 0;
      for (let i = 0; i < d.length; i += 4) if (d[i] + d[i + 1] + d[i + 2] > 200) lit++;
      return lit;
    })()`);
    expect(drawn).toBeGreaterThan(50);

    // the map follows the geoWithin feed: markers move with no geoNearest polling
    expect(frames.some((f) => f.includes('"subscribe"') && f.includes('geoWithin'))).toBe(true);
    const before = graphql.length;
    const started = Date.now();
    for (let i = 1; i <= 4; i++) {
      const lat = Number((40.758 + i * 0.002).toFixed(4));
      await ingest('driver_locations', [{ driver_id: 'driver-03', lat, lon: -73.9855, ts: now() }]);
      await page.waitForSelector(`[data-testid="map"][data-last-move="driver-03 move ${lat} -73.9855"]`, WAIT);
      await page.waitForTimeout(300);
    }
    expect(await page.locator('[data-testid="map"]').getAttribute('data-points')).toBe('3');
    const during = graphql.slice(before);
    const elapsed = Date.now() - started;
    // the page's only reads meanwhile are the stats panel's (one a second) and the cluster
    // panel's (one every 2 s); none is the map's
    expect(during.filter((b) => /geo(Nearest|Search|Position)/.test(b))).toEqual([]);
    expect(during.filter((b) => !b.includes('DashboardStats') && !b.includes('DashboardCluster'))).toEqual([]);
    expect(during.filter((b) => b.includes('DashboardStats')).length).toBeLessThanOrEqual(Math.ceil(elapsed / 1_000) + 1);
    expect(during.filter((b) => b.includes('DashboardCluster')).length).toBeLessThanOrEqual(Math.ceil(elapsed / 2_000) + 1);
    expect(graphql.filter((b) => b.includes('geoNearest'))).toEqual([]);

    expect(await page.evaluate('window.sameDocument')).toBe(true);
    await page.screenshot({ path: join(RESULTS_DIR, 'dashboard.png'), fullPage: true });
    expect(problems).toEqual([]);
    await page.close();
  }, 60_000);

  it('shows this instance and its partitions in the Cluster panel, as GET /cluster reports them, and says so when a read fails', async () => {
    const { page, problems } = await open('/');
    const report = (await (await fetch(`${tally.url}/cluster`)).json()) as ClusterReport;
    expect(report.clustered).toBe(false);
    const panel = '#cluster-panel';
    await page.waitForSelector(`${panel}[data-state="ok"] [data-testid="cluster"] .cluster`, WAIT);
    const text = async (selector: string) => (await page.locator(`${panel} ${selector}`).textContent())?.trim();
    expect(await text('[data-testid="cluster-mode"]')).toBe('single instance');
    expect(await text('[data-testid="cluster-instance"]')).toBe(report.instanceId);
    expect(await page.locator(`${panel} .cluster`).getAttribute('data-instance')).toBe(report.instanceId);
    const active = page.locator(`${panel} .parts[data-kind="active"]`);
    expect(await active.getAttribute('data-partitions')).toBe(report.members[0].active.join(','));
    expect(await active.textContent()).toBe(`partitions ${report.members[0].active.join(', ')}`);
    expect(await page.locator(`${panel} .lag-part`).evaluateAll((els) => els.map((e) => [Number(e.dataset.partition), Number(e.dataset.lag)]))).toEqual(report.lag.map((l) => [l.partition, l.lag]));
    expect(await page.locator(`${panel} .cluster-members`).count()).toBe(0);

    // reads that fail: a message in the panel, the last report dimmed; then back to current
    await page.route(`${tally.url}/graphql`, (route) => (route.request().postData()?.includes('DashboardCluster') ? route.abort() : route.fallback()));
    await page.waitForSelector(`${panel}[data-state="error"]`, WAIT);
    expect(await text('[data-testid="cluster-status"]')).toMatch(/^Cluster not updated: Tally is not reachable .*\(shown: as of \d\d:\d\d:\d\d\)$/);
    expect(await page.locator(`${panel} [data-testid="cluster"]`).getAttribute('class')).toBe('stale');
    await page.unroute(`${tally.url}/graphql`);
    await page.waitForSelector(`${panel}[data-state="ok"]`, WAIT);
    expect(await text('[data-testid="cluster-status"]')).toMatch(/^as of \d\d:\d\d:\d\d$/);
    expect(await page.locator(`${panel} [data-testid="cluster"]`).getAttribute('class')).toBe('');
    expect(problems).toEqual([]);
    await page.close();
  }, 60_000);

  it('renders a three-member report: members and URLs, this instance marked, partitions (standby and restoring when given), epoch and lag, text kept as text', async () => {
    const { page, problems } = await open('/');
    await page.waitForSelector('body[data-ready="true"]', WAIT);
    // the panel's own renderer, bundled from its source into the page (the app's bundle keeps it private)
    const bundle = await build({ entryPoints: [join(process.cwd(), 'dashboard', 'src', 'cluster.ts')], bundle: true, format: 'iife', globalName: 'clusterView', write: false, logLevel: 'silent' });
    await page.addScriptTag({ content: bundle.outputFiles[0].text });
    const hostile = '<img src=x onerror="window.pwned=1">';
    const report: ClusterReport = {
      instanceId: 'tally-2',
      clustered: true,
      epoch: 7,
      partitionCount: 12,
      members: [
        { instanceId: 'tally-1', url: 'http://tally-1:4000', self: false, active: [9, 0, 3, 6], standby: [1, 4], restoring: [] },
        { instanceId: 'tally-2', url: 'http://tally-2:4000/', self: true, active: [1, 4, 7, 10], standby: [], restoring: [11] },
        { instanceId: hostile, url: 'javascript:alert(1)', self: false, active: [2, 5, 8], standby: [], restoring: [] },
      ],
      lag: [
        { partition: 1, lag: 0 },
        { partition: 4, lag: 12 },
        { partition: 7, lag: 0 },
        { partition: 10, lag: 1500 },
      ],
    };
    // a report of the earlier shape, without standby and restoring, renders as well
    const { standby: _s, restoring: _r, ...older } = report.members[2];
    const shown = { ...report, members: [report.members[0], report.members[1], older] };
    const rendered = (await page.evaluate(`(() => {
      const panel = document.createElement('section');
      panel.className = 'panel';
      panel.id = 'cluster-rendered';
      panel.style.width = '560px';
      panel.append(clusterView.renderCluster(${JSON.stringify(shown)}));
      document.querySelector('.layout .col:last-child').append(panel);
      const root = panel.querySelector('.cluster');
      const q = (el, s) => el.querySelector(s)?.textContent ?? null;
      return {
        clustered: root.dataset.clustered,
        epoch: q(root, '[data-testid="cluster-epoch"]'),
        mode: q(root, '[data-testid="cluster-mode"]'),
        instance: q(root, '[data-testid="cluster-instance"]'),
        members: [...root.querySelectorAll('.cluster-member')].map((li) => ({
          id: q(li, '.member-id'),
          self: li.dataset.self === 'true',
          you: q(li, '.you'),
          url: q(li, '.member-url'),
          href: li.querySelector('a.member-url')?.getAttribute('href') ?? null,
          parts: Object.fromEntries([...li.querySelectorAll('.parts')].map((p) => [p.dataset.kind, p.dataset.partitions])),
        })),
        lag: [...root.querySelectorAll('.lag-part')].map((e) => [Number(e.dataset.partition), Number(e.dataset.lag), e.classList.contains('behind')]),
        lagTotal: Number(root.querySelector('[data-testid="cluster-lag"]').dataset.total),
        images: panel.querySelectorAll('img').length,
      };
    })()`)) as Record<string, unknown>;
    const sorted = (ps: number[]) => [...ps].sort((a, b) => a - b).join(',');
    expect(rendered).toEqual({
      clustered: 'true',
      epoch: `epoch ${report.epoch}`,
      mode: `${report.members.length} members`,
      instance: report.instanceId,
      members: report.members.map((m) => ({
        id: m.instanceId,
        self: m.self,
        you: m.self ? 'this instance' : null,
        url: m.url,
        href: m.url.startsWith('http') ? `${m.url.replace(/\/$/, '')}/` : null,
        parts: {
          active: sorted(m.active),
          ...(m.standby.length > 0 ? { standby: sorted(m.standby) } : {}),
          ...(m.restoring.length > 0 ? { restoring: sorted(m.restoring) } : {}),
        },
      })),
      lag: report.lag.map((l) => [l.partition, l.lag, l.lag > 0]),
      lagTotal: report.lag.reduce((n, l) => n + l.lag, 0),
      images: 0,
    });
    expect(await page.evaluate('window.pwned')).toBeUndefined();
    expect(await page.locator('#cluster-rendered .cluster-member[data-self="true"]').count()).toBe(1);
    await page.locator('#cluster-rendered').screenshot({ path: join(RESULTS_DIR, 'dashboard-cluster.png') });
    expect(problems).toEqual([]);
    await page.close();
  }, 60_000);

  it('asks for a key when keys are set, then works with a reader key over HTTP and graphql-ws', async () => {
    const READER = 'dashboard-reader-key-0001';
    const keyed = await startTally(readFileSync(DEMO_PIPELINE_PATH, 'utf8'), { TALLY_API_KEYS: `${READER}:reader,dashboard-writer-key-0001:writer` });
    try {
      const page = await browser.context.newPage();
      await page.goto(`${keyed.url}/`);
      await page.waitForSelector('#banner:has-text("API key")', WAIT);
      expect(await page.locator('body').getAttribute('data-ready')).toBeNull();
      await page.fill('#api-key', READER);
      await Promise.all([page.waitForEvent('load'), page.click('#key-form button[type="submit"]')]);
      await page.waitForSelector('body[data-ready="true"]', WAIT);
      await page.waitForSelector('#conn[data-state="connected"]', WAIT);
      expect(await page.textContent('#key-state')).toBe('key set');
      // the leaderboard subscription (graphql-ws, key in connection_init) delivers
      const r = await fetch(`${keyed.url}/ingest/game_scores`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer dashboard-writer-key-0001' }, body: JSON.stringify([{ player_id: 'keyed', points: 9 }]) });
      expect(r.status).toBe(200);
      await page.waitForSelector('[data-testid="leaderboard-top_players"] li[data-member="keyed"][data-rank="1"]', WAIT);
      await page.evaluate(`localStorage.removeItem('tally.apiKey')`);
      await page.close();
    } finally {
      await keyed.close();
    }
  }, 60_000);

  it('runs a query in GraphiQL (bundled, no CDN) and shows the answer', async () => {
    const query = '{ leaderboard(name: "top_players", limit: 2) { rank member score } }';
    // opened as the README writes it, without the trailing slash: redirected to /graphiql/
    const { page, problems } = await open(`/graphiql?query=${encodeURIComponent(query)}`);
    await page.waitForSelector('.graphiql-execute-button', WAIT);
    expect(page.url()).toBe(`${tally.url}/graphiql/?query=${encodeURIComponent(query)}`);
    await page.click('.graphiql-execute-button');
    await page.waitForFunction(`/"member":\\s*"bob"/.test(document.querySelector('.graphiql-response')?.textContent.replace(/\\u00a0/g, ' ') ?? '')`, undefined, WAIT);
    const answer = ((await page.locator('.graphiql-response').textContent()) ?? '').replace(/\u00a0/g, ' ');
    expect(answer).toMatch(/"rank":\s*1,\s*"member":\s*"bob",\s*"score":\s*70/);
    await page.screenshot({ path: join(RESULTS_DIR, 'graphiql.png') });
    // a browser opening /graphql is sent here (the driver's own GraphiQL would load from a CDN)
    const r = await fetch(`${tally.url}/graphql`, { headers: { accept: 'text/html' }, redirect: 'manual' });
    expect([r.status, r.headers.get('location')]).toEqual([302, '/graphiql/']);
    expect(problems).toEqual([]);
    await page.close();
  }, 60_000);

  it('streams a subscription in GraphiQL over graphql-ws', async () => {
    const subscription = 'subscription { leaderboardChanged(name: "best_runs", top: 3) { rank member score } }';
    const { page, problems } = await open(`/graphiql/?query=${encodeURIComponent(subscription)}`);
    await page.waitForSelector('.graphiql-execute-button', WAIT);
    await page.click('.graphiql-execute-button');
    // the first push is the current top; a new best run then arrives over the same socket
    await page.waitForFunction(`/"member":\\s*"ada"/.test(document.querySelector('.graphiql-response')?.textContent.replace(/\\u00a0/g, ' ') ?? '')`, undefined, WAIT);
    await ingest('game_scores', [{ player_id: 'cyd', points: 99 }]);
    await page.waitForFunction(`/"rank":\\s*1,\\s*"member":\\s*"cyd"/.test(document.querySelector('.graphiql-response')?.textContent.replace(/\\u00a0/g, ' ') ?? '')`, undefined, WAIT);
    expect(problems).toEqual([]);
    await page.close();
  }, 60_000);
});
