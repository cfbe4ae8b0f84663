import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEMO_PIPELINE_PATH } from '../pipeline/load.js';
import { parseArgs, UsageError } from './args.js';
import { cli } from '../../test/support/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'tally-cli-'));
const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};

describe('tally validate', () => {
  it('accepts a valid pipeline with exit 0 and says what it declares', async () => {
    const r = await cli('validate', DEMO_PIPELINE_PATH);
    expect(r).toEqual({ code: 0, out: `${DEMO_PIPELINE_PATH}: ok — 4 sources, 7 features, 1 view, 2 leaderboards, 1 geo index (2 fences)\n`, err: '' });
  });

  it('lists every problem by path, as start-up does, with exit 1', async () => {
    const bad = file(
      'bad.yaml',
      `sources:
  - name: transactions
features:
  - { name: a, source: transactions, entity: card_id, aggregation: count, windows: [1m, 5x] }
  - { name: b, source: transactionz, entity: card_id, aggregation: count, windows: [1m] }
  - { name: a, source: transactions, entity: card_id, aggregation: count, windows: [1h] }
`,
    );
    const r = await cli('validate', bad);
    expect(r.code).toBe(1);
    expect(r.out).toBe('');
    expect(r.err).toBe(
      `${bad}: 3 problems in the pipeline file:
  - features[0].windows[1]: "5x" is not a duration (e.g. 30s, 5m, 1h, 7d or lifetime)
  - features[1].source: unknown source "transactionz" (declared: transactions)
  - features[2].name: duplicate name "a" (also features[0])
`,
    );
  });

  it('checks every file named and fails if any is bad', async () => {
    const broken = file('broken.yaml', 'sources: [');
    const r = await cli('validate', DEMO_PIPELINE_PATH, broken, join(dir, 'missing.yaml'));
    expect(r.code).toBe(1);
    expect(r.out).toContain(': ok — ');
    expect(r.err).toContain(`${broken}: 1 problem in the pipeline file:\n  - not valid YAML or JSON:`);
    expect(r.err).toContain(`missing.yaml: 1 problem in the pipeline file:\n  - cannot read the file: ENOENT`);
  });

  it('needs a file: exit 2 with the usage', async () => {
    expect(await cli('validate')).toEqual({ code: 2, out: '', err: expect.stringContaining('usage: tally validate <pipeline.yaml>...') });
  });
});

describe('tally (help and usage)', () => {
  it('lists the commands; each has help', async () => {
    const r = await cli('help');
    expect(r.code).toBe(0);
    for (const c of ['validate', 'snapshot', 'replay', 'bench', 'demo']) {
      expect(r.out).toMatch(new RegExp(`^  ${c} +\\S`, 'm'));
      const help = await cli(c, '--help');
      expect(help).toEqual({ code: 0, out: expect.stringMatching(/^usage: tally /), err: '' });
      expect((await cli('help', c)).out).toBe(help.out);
    }
  });

  it('refuses unknown commands and options with exit 2', async () => {
    expect(await cli()).toMatchObject({ code: 2, out: expect.stringContaining('usage: tally <command>') });
    expect(await cli('frobnicate')).toMatchObject({ code: 2, err: expect.stringContaining('no command "frobnicate"') });
    expect(await cli('snapshot', 'inspect', 'x', '--yaml')).toMatchObject({ code: 2, err: expect.stringContaining('unknown option --yaml') });
    expect(await cli('snapshot', 'list')).toMatchObject({ code: 2, err: expect.stringContaining('unknown subcommand "list"') });
  });
});

describe('tally snapshot inspect', () => {
  it('reports a file that is not a snapshot, with exit 1', async () => {
    const junk = file('junk.tsnap', 'not a snapshot at all');
    const r = await cli('snapshot', 'inspect', junk);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/^status {6}NOT VALID/m);
  });
});

describe(parseArgs.name, () => {
  const spec = { url: { value: true, description: '' }, json: { description: '' } };
  it('reads positionals, --name value, --name=value and flags', () => {
    expect(parseArgs(['a', '--url', 'u', 'b', '--json', '--url=v', '--', '--x'], spec)).toEqual({ positionals: ['a', 'b', '--x'], options: { url: 'v', json: true } });
  });
  it('refuses unknown options, missing values and values on flags', () => {
    expect(() => parseArgs(['--nope'], spec)).toThrow(UsageError);
    expect(() => parseArgs(['--url'], spec)).toThrow('--url needs a value');
    expect(() => parseArgs(['--json=1'], spec)).toThrow('--json takes no value');
  });
});
