import { parsePipeline } from '../pipeline/load.js';
import { MAX_EVENT_DEPTH, nestedDeeperThan, Router } from './router.js';

const nest = (levels: number): unknown => JSON.parse(`${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}`);

describe('nestedDeeperThan', () => {
  it('counts an object as one level and each nested object or array as one more', () => {
    expect([nestedDeeperThan(1), nestedDeeperThan(null), nestedDeeperThan({}, 0), nestedDeeperThan({}, 1)]).toEqual([false, false, true, false]);
    expect([nestedDeeperThan({ a: [1, { b: 2 }] }, 2), nestedDeeperThan({ a: [1, { b: 2 }] }, 3)]).toEqual([true, false]);
    expect([nestedDeeperThan(nest(64), 64), nestedDeeperThan(nest(65), 64)]).toEqual([false, true]);
  });

  it('walks a million levels without recursion', () => {
    expect(nestedDeeperThan(JSON.parse(`${'['.repeat(1_000_000)}${']'.repeat(1_000_000)}`))).toBe(true);
  });
});

describe('Router and deep events', () => {
  const router = new Router(parsePipeline('sources: [{ name: tx }]\nfeatures: [{ name: n, source: tx, entity: id, aggregation: count, windows: [1h] }]'));

  it(`refuses an event nested more than ${MAX_EVENT_DEPTH} levels deep as too-deep, wherever the depth is`, () => {
    expect(router.route('tx', { id: 'a', extra: nest(MAX_EVENT_DEPTH - 1) }, 0).ok).toBe(true);
    const r = router.route('tx', { id: 'a', extra: nest(MAX_EVENT_DEPTH) }, 0);
    expect(r).toMatchObject({ ok: false, reason: 'too-deep' });
    expect(router.decode('tx', Buffer.from(`{"id":${'['.repeat(100_000)}${']'.repeat(100_000)}}`), 0)).toMatchObject({ ok: false, reason: 'too-deep' });
  });
});
