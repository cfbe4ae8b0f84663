// Tally is started with the same V8 flags wherever the project starts it for users.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { NODE_FLAGS } from '../../src/ops/node-flags.js';

const root = join(import.meta.dirname, '..', '..');

describe('NODE_FLAGS', () => {
  it('are on the command line of `npm start` and of the Docker image', () => {
    const start = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts.start!;
    const cmd = /^CMD (\[.*\])$/m.exec(readFileSync(join(root, 'Dockerfile'), 'utf8'))?.[1];
    expect(cmd).toBeDefined();
    const argv = JSON.parse(cmd!) as string[];
    expect(NODE_FLAGS.length).toBeGreaterThan(0);
    for (const flag of NODE_FLAGS) {
      expect(start).toContain(`node ${NODE_FLAGS.join(' ')} dist/main.js`);
      expect(argv.slice(1, -1)).toContain(flag);
    }
    expect(argv[0]).toBe('node');
    expect(argv[argv.length - 1]).toBe('dist/main.js');
  });
});
