// Headless Chromium for the browser checks: Debian's /usr/bin/chromium (or CHROMIUM_PATH)
// driven by playwright-core, with a fresh profile per launch. Playwright's own browser
// downloads are never used. The dashboard's assets are built here when missing (they are
// normally built by `npm run build`).
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { buildWeb, PUBLIC_DIR } from '../../scripts/build-web.js';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
/** Screenshots and other artefacts of the browser checks (git-ignored). */
export const RESULTS_DIR = join(process.cwd(), 'test-results');

const FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-dev-shm-usage'];

export interface Chromium {
  context: BrowserContext;
  close(): Promise<void>;
}

/** Launches headless Chromium; fails with how to install it when it is missing. */
export async function launchChromium(): Promise<Chromium> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`Chromium is not installed (looked for ${CHROMIUM_PATH}); the browser checks need it: apt-get install chromium (Debian), or set CHROMIUM_PATH to a Chromium binary. .ci/run installs it.`);
  }
  const profile = mkdtempSync(join(tmpdir(), 'tally-chromium-'));
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM_PATH, headless: true, args: FLAGS, viewport: { width: 1440, height: 1000 } });
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Builds dist/public unless it is there. */
export async function ensureWebAssets(): Promise<void> {
  if (!existsSync(join(PUBLIC_DIR, 'index.html')) || !existsSync(join(PUBLIC_DIR, 'graphiql', 'graphiql.js'))) await buildWeb();
  mkdirSync(RESULTS_DIR, { recursive: true });
}
