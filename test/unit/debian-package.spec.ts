// The helper that finds, or installs from Debian, the programs the suites need (redis-server,
// chromium): what it answers without installing anything.
import { ensureDebianPackage, findCommand } from '../support/debian-package.js';

describe('ensureDebianPackage', () => {
  it('answers the path of a program that is there, installing nothing', async () => {
    const sh = findCommand('sh');
    expect(sh).toMatch(/\/sh$/);
    await expect(ensureDebianPackage('sh', 'dash', { root: true })).resolves.toBe(sh);
  });

  it('names the missing program, its package and how to install it when it may not install', async () => {
    const refusal = ensureDebianPackage('tally-no-such-program', 'tally-no-such-package', { root: false, hint: 'or set TALLY_NO_SUCH_PATH' });
    await expect(refusal).rejects.toThrow(/^tally-no-such-program was not found \(looked on PATH and in \/usr\/bin.*\), and this process is not root, so it does not install it\./);
    await expect(refusal).rejects.toThrow('`sudo apt-get update && sudo apt-get install tally-no-such-package`');
    await expect(refusal).rejects.toThrow('or set TALLY_NO_SUCH_PATH');
  });
});
