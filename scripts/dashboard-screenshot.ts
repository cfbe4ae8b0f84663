// Takes the README's dashboard screenshot: Tally in embedded mode with the demo pipeline and
// its demo events, the dashboard in headless Chromium after the demo has run a while.
//
//   npx tsx scripts/dashboard-screenshot.ts [out.png] [seconds]     (default docs/dashboard.png, 75 s)
//
// Runs the built app (npm run build first): tsx does not emit the decorator metadata Nest needs.
// Chromium is found as the browser tests find it (test/support/browser.ts): CHROMIUM_PATH, else
// Debian's `chromium` on PATH, installed with apt-get when missing and run as root.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { ensureChromium } from '../test/support/browser.js';

const out = resolve(process.argv[2] ?? 'docs/dashboard.png');
const seconds = Number(process.argv[3] ?? 75);
const dist = (file: string) => import(pathToFileURL(resolve('dist', file)).href);

const executablePath = await ensureChromium();
const { createTally, baseUrl } = await dist('bootstrap.js');
const { loadPipeline } = await dist('pipeline/load.js');
const { loadSettings } = await dist('settings/settings.js');
process.env.TALLY_LOG_LEVEL ??= 'warn';
const app = await createTally({ settings: { ...loadSettings({ PORT: '0', HOST: '127.0.0.1' }), demo: true }, pipeline: loadPipeline() });
const url = baseUrl(app);
const profile = mkdtempSync(join(tmpdir(), 'tally-shot-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  viewport: { width: 1440, height: 960 },
});
try {
  const page = await context.newPage();
  await page.goto(`${url}/`);
  process.stdout.write(`dashboard at ${url}/, demo running; screenshot in ${seconds} s\n`);
  await page.waitForTimeout(seconds * 1000);
  // between animations: let running row moves and pulses settle
  await page.waitForTimeout(400);
  await page.screenshot({ path: out, fullPage: true });
  process.stdout.write(`wrote ${out}\n`);
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
  await app.close();
}
