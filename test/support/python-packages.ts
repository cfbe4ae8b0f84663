// Python packages some suites read Tally's output with (pyarrow and DuckDB open the Parquet
// training sets, as data scientists would): installed with pip into .pyenv/ of the repository
// when missing (pip itself from Debian's python3-pip when this process may install it), else
// a clear error naming what is missing and how to get it.
//
//   const pythonPath = await ensurePythonPackages(['pyarrow', 'duckdb']);
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ensureDebianPackage, findCommand } from './debian-package.js';

/** Where the packages go (gitignored). */
export const PYTHON_TARGET = resolve('.pyenv');

function importable(modules: readonly string[]): boolean {
  const r = spawnSync('python3', ['-c', modules.map((m) => `import ${m}`).join('; ')], { env: { ...process.env, PYTHONPATH: PYTHON_TARGET }, encoding: 'utf8' });
  return r.status === 0;
}

/** Returns the PYTHONPATH under which `modules` import, installing them with pip when they do not. */
export async function ensurePythonPackages(modules: readonly string[]): Promise<string> {
  if (findCommand('python3') === undefined) await ensureDebianPackage('python3', 'python3', { tag: 'python' });
  if (importable(modules)) return PYTHON_TARGET;
  const pip = spawnSync('python3', ['-m', 'pip', '--version'], { encoding: 'utf8' });
  if (pip.status !== 0) await ensureDebianPackage('pip3', 'python3-pip', { tag: 'python' });
  mkdirSync(PYTHON_TARGET, { recursive: true });
  process.stderr.write(`[python] installing ${modules.join(', ')} into ${PYTHON_TARGET} with pip\n`);
  const r = spawnSync('python3', ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '--target', PYTHON_TARGET, ...modules], { encoding: 'utf8', timeout: 10 * 60_000 });
  if (r.status !== 0 || !importable(modules)) {
    throw new Error(`the Python packages ${modules.join(', ')} are missing and pip could not install them (${(r.stderr || r.error?.message || '').trim().split('\n').slice(-3).join(' ')}). Install them with \`python3 -m pip install --target ${join('.pyenv')} ${modules.join(' ')}\`.`);
  }
  return PYTHON_TARGET;
}
