// Every address Tally shows a person answers: the README's links, the links of the dashboard
// and GraphiQL pages, and the addresses of the start-up log. A directory asked for without
// its trailing slash (`/graphiql`) is redirected to it, query string kept, by a 302 (a 301
// would be kept by browsers for good).
import { readFileSync } from 'node:fs';
import { DEMO_PIPELINE_PATH } from '../../src/pipeline/load.js';
import { startTally, type RunningTally } from '../support/app.js';
import { ensureWebAssets } from '../support/browser.js';
import { startTallyProcess, stopTallyProcess } from '../support/tally-process.js';

interface Visit {
  /** Status of each response, redirects first. */
  hops: number[];
  /** Where the last response came from. */
  url: string;
  status: number;
  type: string;
  body: string;
}

/** GET as a browser opening a page (HTML first, no key), following redirects by hand. */
async function visit(url: string): Promise<Visit> {
  const hops: number[] = [];
  let at = url;
  for (;;) {
    const res = await fetch(at, { headers: { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' }, redirect: 'manual' });
    hops.push(res.status);
    const location = res.headers.get('location');
    if (res.status >= 300 && res.status < 400 && location && hops.length < 5) {
      await res.arrayBuffer();
      at = new URL(location, at).href;
      continue;
    }
    return { hops, url: at, status: res.status, type: res.headers.get('content-type') ?? '', body: await res.text() };
  }
}

/** The local files a page loads or links to (href and src), as absolute URLs. */
function linksOf(page: Visit): string[] {
  const links = [...page.body.matchAll(/\b(?:href|src)="([^"#]+)"/g)].map((m) => new URL(m[1], page.url));
  return [...new Set(links.filter((u) => u.origin === new URL(page.url).origin).map((u) => u.href))];
}

const GRAPHIQL_PAGE = /<script type="module" src="\.\/graphiql\.js"><\/script>/;

describe('the addresses Tally shows', () => {
  let tally: RunningTally;
  beforeAll(async () => {
    await ensureWebAssets();
    tally = await startTally(readFileSync(DEMO_PIPELINE_PATH, 'utf8'));
  });
  afterAll(() => tally?.close());

  it('serves GraphiQL at /graphiql and /graphiql/, redirecting the first to the second with its query', async () => {
    const bare = await visit(`${tally.url}/graphiql`);
    expect([bare.hops, bare.url, bare.status]).toEqual([[302, 200], `${tally.url}/graphiql/`, 200]);
    expect(bare.body).toMatch(GRAPHIQL_PAGE);
    const slash = await visit(`${tally.url}/graphiql/`);
    expect([slash.hops, slash.body]).toEqual([[200], bare.body]);
    const query = encodeURIComponent('{ leaderboard(name: "top_players") { member } }');
    const withQuery = await visit(`${tally.url}/graphiql?query=${query}`);
    expect([withQuery.hops, withQuery.url]).toEqual([[302, 200], `${tally.url}/graphiql/?query=${query}`]);
    const head = await fetch(`${tally.url}/graphiql?query=${query}`, { method: 'HEAD', redirect: 'manual' });
    expect([head.status, head.headers.get('location')]).toEqual([302, `/graphiql/?query=${query}`]);
    // a browser opening /graphql lands there too
    const api = await visit(`${tally.url}/graphql`);
    expect([api.hops, api.url, api.body]).toEqual([[302, 200], `${tally.url}/graphiql/`, bare.body]);
    // a directory that is not there is still a 404, not a redirect
    expect((await visit(`${tally.url}/nothing-here`)).hops).toEqual([404]);
  });

  it('answers every http://localhost:4000 address of the README', async () => {
    const readme = readFileSync('README.md', 'utf8');
    const paths = [...new Set([...readme.matchAll(/http:\/\/localhost:4000(\/[^\s`'")\];,]*)?/g)].map((m) => (m[1] ?? '/').replace(/\.$/, '')))].sort();
    expect(paths).toEqual(expect.arrayContaining(['/', '/graphiql', '/graphql']));
    for (const path of paths) {
      const page = await visit(`${tally.url}${path}`);
      expect([path, page.status, page.type]).toEqual([path, 200, expect.stringContaining('text/html')]);
    }
  });

  it('answers every local link of the dashboard and GraphiQL pages', async () => {
    for (const path of ['/', '/graphiql/']) {
      const page = await visit(`${tally.url}${path}`);
      const links = linksOf(page);
      expect(links.length).toBeGreaterThan(1);
      for (const link of links) expect([link, (await visit(link)).status]).toEqual([link, 200]);
    }
  });

  it('opens the dashboard and GraphiQL without a key when keys are set', async () => {
    const keyed = await startTally(readFileSync(DEMO_PIPELINE_PATH, 'utf8'), { TALLY_API_KEYS: 'web-urls-reader-key-0001:reader' });
    try {
      for (const path of ['/', '/graphiql', '/graphiql/']) expect([path, (await visit(`${keyed.url}${path}`)).status]).toEqual([path, 200]);
      expect((await fetch(`${keyed.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query":"{ __typename }"}' })).status).toBe(401);
    } finally {
      await keyed.close();
    }
  });

  it('prints the GraphQL, dashboard and GraphiQL addresses at start-up, and each answers (dist/main.js)', async () => {
    const p = await startTallyProcess({ TALLY_PIPELINE: '', KAFKA_BROKERS: '' });
    try {
      const line = p
        .output()
        .split('\n')
        .find((l) => l.includes('"tally is serving"'));
      const logged = JSON.parse(line!) as Record<string, string>;
      expect([logged.url, logged.dashboard, logged.graphiql]).toEqual([`${p.url}/graphql`, `${p.url}/`, `${p.url}/graphiql`]);
      for (const url of [logged.url, logged.dashboard, logged.graphiql]) {
        const page = await visit(url);
        expect([url, page.status, page.type]).toEqual([url, 200, expect.stringContaining('text/html')]);
      }
    } finally {
      await stopTallyProcess(p);
    }
  });
});
