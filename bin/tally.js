#!/usr/bin/env node
// `npx tally <command>` from the repository (also `npm run tally -- <command>`): runs the
// built command line, dist/tally.js, compiling src/ first (tsc) when dist is missing or
// older than a source file — so a fresh checkout needs only `npm ci`.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const entry = join(root, 'dist', 'tally.js');

/** Newest modification time of the files under `dir`. */
function newest(dir) {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

if (!existsSync(entry) || statSync(entry).mtimeMs < newest(join(root, 'src'))) {
  process.stderr.write('tally: compiling src/ (tsc -p tsconfig.build.json)...\n');
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const r = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
  // tsc still writes its output when it reports type errors; only a missing entry is fatal
  if (!existsSync(entry)) {
    process.stderr.write(`tally: the build failed (exit ${r.status}); run npm run build to see why\n`);
    process.exit(1);
  }
}

await import(pathToFileURL(entry).href);
