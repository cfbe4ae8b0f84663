// Builds the browser assets Tally serves itself (no CDN): the dashboard at `/` and GraphiQL at
// `/graphiql`, bundled with esbuild from `dashboard/` into `dist/public/`. Run by `npm run
// build` after tsc:
//
//   npx tsx scripts/build-web.ts [outDir]
//
// From code (the browser tests build the assets when they are missing):
//
//   await buildWeb();   // -> { outDir, files }
import { copyFileSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type BuildOptions } from 'esbuild';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SRC = join(ROOT, 'dashboard');
/** Where the app serves static files from (src/bootstrap.ts reads the same path). */
export const PUBLIC_DIR = join(ROOT, 'dist', 'public');

const common: BuildOptions = {
  bundle: true,
  minify: true,
  target: ['es2022', 'chrome110', 'firefox110', 'safari16'],
  legalComments: 'none',
  logLevel: 'warning',
  define: { 'process.env.NODE_ENV': '"production"' },
};

export async function buildWeb(outDir = PUBLIC_DIR): Promise<{ outDir: string; files: string[] }> {
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(join(outDir, 'graphiql'), { recursive: true });
  await Promise.all([
    // The dashboard: plain TypeScript + CSS, with the graphql-ws client.
    build({ ...common, entryPoints: { dashboard: join(SRC, 'src', 'main.ts') }, format: 'esm', sourcemap: 'linked', outdir: outDir }),
    // GraphiQL (React + Monaco) and the graphql-ws client for its subscriptions.
    build({
      ...common,
      entryPoints: { 'graphiql/graphiql': join(SRC, 'graphiql', 'main.tsx') },
      format: 'esm',
      jsx: 'automatic',
      loader: { '.ttf': 'file' },
      assetNames: 'graphiql/[name]-[hash]',
      outdir: outDir,
    }),
    // Monaco's workers (editor, JSON for the variables/result panes, GraphQL language service).
    build({
      ...common,
      entryPoints: {
        'graphiql/editor.worker': 'monaco-editor/esm/vs/editor/editor.worker.js',
        'graphiql/json.worker': 'monaco-editor/esm/vs/language/json/json.worker.js',
        'graphiql/graphql.worker': 'monaco-graphql/esm/graphql.worker.js',
      },
      format: 'iife',
      outdir: outDir,
    }),
  ]);
  copyFileSync(join(SRC, 'index.html'), join(outDir, 'index.html'));
  copyFileSync(join(SRC, 'favicon.svg'), join(outDir, 'favicon.svg'));
  copyFileSync(join(SRC, 'graphiql', 'index.html'), join(outDir, 'graphiql', 'index.html'));
  return { outDir, files: list(outDir).map((f) => relative(outDir, f)) };
}

function list(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? list(path) : [path];
  });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const started = Date.now();
  const { outDir, files } = await buildWeb(process.argv[2] ? resolve(process.argv[2]) : undefined);
  const bytes = files.reduce((n, f) => n + statSync(join(outDir, f)).size, 0);
  process.stdout.write(`web assets: ${files.length} files, ${(bytes / 1e6).toFixed(1)} MB in ${relative(process.cwd(), outDir) || '.'} (${Date.now() - started} ms)\n`);
}
