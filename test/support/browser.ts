// Headless Chromium for the browser checks: Debian's chromium (or CHROMIUM_PATH) driven by
// playwright-core, with a fresh profile per launch. Playwright's own browser downloads are
// never used: when chromium is missing, the Debian package is installed as redis-server is
// (debian-package.ts: as root with apt-get; otherwise an error says how). The dashboard's
// assets are built here when missing (they are normally built by `npm run build`).
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { buildWeb, PUBLIC_DIR } from '../../scripts/build-web.js';
import { ensureDebianPackage } from './debian-package.js';

/** A Chromium binary given by the environment; when unset, Debian's `chromium` is found or installed. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH || undefined;
/** Screenshots and other artefacts of the browser checks (git-ignored). */
export const RESULTS_DIR = join(process.cwd(), 'test-results');

const FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-dev-shm-usage'];

export interface Chromium {
  context: BrowserContext;
  close(): Promise<void>;
}

/** Time to allow a first run for installing chromium (apt-get update and the package with its dependencies). */
export const CHROMIUM_INSTALL_TIMEOUT_MS = 15 * 60_000;

/**
 * The Chromium to drive: CHROMIUM_PATH when set (it must exist), else Debian's `chromium`,
 * installed with apt-get when missing and this process is root.
 */
export async function ensureChromium(): Promise<string> {
  if (CHROMIUM_PATH !== undefined) {
    if (!existsSync(CHROMIUM_PATH)) throw new Error(`CHROMIUM_PATH is ${CHROMIUM_PATH}, which does not exist; point it at a Chromium binary, or unset it to use Debian's chromium.`);
    return CHROMIUM_PATH;
  }
  return ensureDebianPackage('chromium', 'chromium', { hint: 'or set CHROMIUM_PATH to a Chromium binary' });
}

/** Launches headless Chromium (installing Debian's when missing and root); fails with how to install it otherwise. */
export async function launchChromium(): Promise<Chromium> {
  const executablePath = await ensureChromium();
  const profile = mkdtempSync(join(tmpdir(), 'tally-chromium-'));
  const context = await chromium.launchPersistentContext(profile, { executablePath, headless: true, args: FLAGS, viewport: { width: 1440, height: 1000 } });
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
