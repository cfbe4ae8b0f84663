import { parsePipeline, PipelineError } from './load.js';
import { messageKeyOf } from './message-key.js';

const pipelineOf = (lines: string[]) => parsePipeline(lines.join('\n'));

describe('messageKeyOf', () => {
  it('takes the source\'s declared key, even where its indexes key by other fields', () => {
    const p = pipelineOf([
      'sources:',
      '  - { name: tx, key: card.id }',
      'features:',
      '  - { name: n, source: tx, entity: merchant, aggregation: count, windows: [1h] }',
    ]);
    expect(p.sources[0].key).toEqual(['card', 'id']);
    expect(messageKeyOf(p, 'tx')).toEqual({ ok: true, path: ['card', 'id'], declared: true });
  });

  it('falls back to the one entity field every feature, view, leaderboard and geo index of the source shares', () => {
    const p = pipelineOf([
      'sources:',
      '  - { name: tx }',
      '  - { name: other }',
      'features:',
      '  - { name: n, source: tx, entity: user.id, aggregation: count, windows: [1h] }',
      '  - { name: m, source: other, entity: merchant, aggregation: count, windows: [1h] }',
      'views:',
      '  - { name: v, source: tx, entity: user.id, fields: { level: int } }',
      'leaderboards:',
      '  - { name: l, source: tx, member: user.id, score: level }',
      'geo:',
      '  - { name: g, source: tx, member: user.id, lat: lat, lon: lon }',
    ]);
    expect(p.sources[0].key).toBeUndefined();
    expect(messageKeyOf(p, 'tx')).toEqual({ ok: true, path: ['user', 'id'], declared: false });
    expect(messageKeyOf(p, 'other')).toEqual({ ok: true, path: ['merchant'], declared: false });
  });

  it('has none when the indexes key by different fields, naming the fields and the indexes', () => {
    const p = pipelineOf([
      'sources:',
      '  - { name: tx }',
      'features:',
      '  - { name: by_card, source: tx, entity: card, aggregation: count, windows: [1h] }',
      '  - { name: by_merchant, source: tx, entity: merchant, aggregation: count, windows: [1h] }',
      'leaderboards:',
      '  - { name: top, source: tx, member: merchant, score: amount }',
    ]);
    const k = messageKeyOf(p, 'tx');
    expect(k.ok).toBe(false);
    expect(!k.ok && k.why).toBe(
      'source "tx" declares no key field and its indexes key by different fields: "card" (feature "by_card"), "merchant" (feature "by_merchant", leaderboard "top"); declare one with `key: <field>` on the source in the pipeline file',
    );
  });

  it('has none for a composite entity, nor for a source nothing reads, nor for an unknown source', () => {
    const p = pipelineOf([
      'sources:',
      '  - { name: tx }',
      '  - { name: idle }',
      'features:',
      '  - { name: pair, source: tx, entity: [user, campaign], aggregation: count, windows: [1h] }',
    ]);
    expect(messageKeyOf(p, 'tx')).toEqual({ ok: false, why: expect.stringContaining('feature "pair" has a composite entity') });
    expect(messageKeyOf(p, 'idle')).toEqual({ ok: false, why: expect.stringContaining('no feature, view, leaderboard or geo index reads it') });
    expect(messageKeyOf(p, 'nope')).toEqual({ ok: false, why: 'unknown source "nope"' });
  });

  it('refuses a key that is not a field path, naming the path and quoting the value', () => {
    const problems = (() => {
      try {
        pipelineOf(['sources:', '  - { name: tx, key: "card id" }', '  - { name: t2, key: 7 }', 'features:', '  - { name: n, source: tx, entity: card, aggregation: count, windows: [1h] }']);
      } catch (err) {
        if (err instanceof PipelineError) return err.problems;
        throw err;
      }
      throw new Error('expected the pipeline to be refused');
    })();
    expect(problems).toEqual([expect.stringMatching(/^sources\[0\]\.key: .*"card id".*field path/), 'sources[1].key: 7 must be a field path such as "card_id" or "card.id"', 'sources[1].key: 7 must be a string']);
  });
});
