// The answering side of the peer bus: a peer's request is checked (the caller's key, the
// question) and answered by op, from the engine's stores, without HTTP.
import { parsePipeline } from '../pipeline/load.js';
import { ApiKeys } from '../security/api-keys.js';
import { OnlineFeatures } from '../features/index.js';
import { ingestPathFor, singleInstanceGather } from '../../test/support/stores.js';
import { ClusterState } from './cluster-state.js';
import { Forwarding } from './forwarding.js';
import { PointLookups } from './lookups.js';
import { answerPeer } from './peer-requests.js';

const pipeline = parsePipeline(`
sources: [{ name: tx, timestamp: ts }]
features:
  - { name: n, source: tx, entity: card, aggregation: count, windows: [lifetime] }
leaderboards:
  - { name: spend, source: tx, member: card, score: amount, mode: incr }
`);
const T0 = Date.UTC(2026, 11, 5, 12);

function setup(keys = new ApiKeys(new Map([['reader-key-0123456789', 'reader']]))) {
  const clock = () => T0;
  const { stores, processor } = ingestPathFor(pipeline, clock);
  for (const [card, amount] of [['a', 5], ['b', 7], ['a', 1]] as const) expect(processor.ingest('tx', [{ card, amount, ts: T0 - 1000 }]).accepted).toBe(1);
  // A single instance's routing: every entity is answered here.
  const forwarding = new Forwarding(new ClusterState({ instanceId: 'm1', url: '' }, false, () => 0), undefined);
  const lookups = new PointLookups(new OnlineFeatures(stores.features, stores.views), stores.features, stores.views, clock);
  return { parts: { keys, forwarding, lookups, gather: singleInstanceGather(stores) } };
}

const READER = 'Bearer reader-key-0123456789';

describe('answerPeer', () => {
  it('answers a lookup with the engine read and a partial with this member part, for a reader key', () => {
    const { parts } = setup();
    expect(answerPeer({ op: 'lookup', authorization: READER, q: { kind: 'rows', entities: ['a', 'b', 'c'], features: ['n:lifetime'] } }, parts)).toEqual({
      ok: true,
      value: [
        { entity: 'a', values: [2], freshness: [T0 - 1000] },
        { entity: 'b', values: [1], freshness: [T0 - 1000] },
        { entity: 'c', values: [0], freshness: [null] },
      ],
    });
    expect(answerPeer({ op: 'lookup', authorization: READER, q: { kind: 'feature', name: 'n', entity: 'a', window: 'lifetime' } }, parts)).toMatchObject({ ok: true, value: { value: 2, asOf: T0 } });
    const top = answerPeer({ op: 'partial', authorization: READER, q: { kind: 'top', board: 'spend', start: 0, n: 5 } }, parts) as { ok: boolean; value: { member: string }[] };
    expect(top.ok).toBe(true);
    expect(top.value.map((r) => r.member)).toEqual(['b', 'a']);
  });

  it('refuses a request without a known key, by op, before reading anything', () => {
    const { parts } = setup();
    for (const authorization of [undefined, 'Bearer not-a-key-0123456789']) {
      expect(answerPeer({ op: 'lookup', authorization, q: { kind: 'feature', name: 'n', entity: 'a', window: 'lifetime' } }, parts)).toMatchObject({ ok: false, extensions: { code: 'UNAUTHENTICATED' } });
      expect(answerPeer({ op: 'partial', authorization, q: { kind: 'top', board: 'spend', start: 0, n: 5 } }, parts)).toMatchObject({ ok: false, partitions: [] });
    }
  });

  it('names what is wrong with a malformed question or op', () => {
    const { parts } = setup();
    expect(answerPeer({ op: 'lookup', authorization: READER, q: { kind: 'rows', entities: 'a' } }, parts)).toEqual({
      ok: false,
      message: 'not a lookup question: rows needs entities and features (lists of strings)',
      extensions: { code: 'BAD_USER_INPUT' },
    });
    expect(answerPeer({ op: 'lookup', authorization: READER, q: { kind: 'feature', name: 'nope', entity: 'a', window: 'lifetime' } }, parts)).toMatchObject({ ok: false, extensions: { code: 'BAD_USER_INPUT' } });
    expect(answerPeer({ op: 'partial', authorization: READER, q: { kind: 'everything' } }, parts)).toMatchObject({ ok: false, error: expect.stringContaining('kind must be one of top, row') as string, partitions: [] });
    expect(answerPeer({ op: 'drop', authorization: READER, q: {} }, parts)).toMatchObject({ ok: false, extensions: { code: 'BAD_USER_INPUT' } });
  });

  it('says an internal failure is one, not bad input', () => {
    const { parts } = setup();
    const logged: unknown[] = [];
    const failing = { ...parts, lookups: { answer: () => { throw new TypeError('x is not a function'); } } as unknown as PointLookups, log: { error: (o: unknown) => void logged.push(o) } };
    expect(answerPeer({ op: 'lookup', authorization: READER, q: { kind: 'feature', name: 'n', entity: 'a', window: 'lifetime' } }, failing)).toEqual({
      ok: false,
      message: 'the owner failed to answer: TypeError: x is not a function (logged by this member)',
      extensions: { code: 'INTERNAL_SERVER_ERROR' },
    });
    expect(logged).toEqual([{ op: 'lookup', error: expect.stringContaining('TypeError: x is not a function\n    at ') as string }]);
  });
});
