import fc from 'fast-check';
import { parsePipeline } from '../pipeline/load.js';
import { ClusterIngest, keyOfEvent, ProduceError, type KeyedWriter } from './cluster-ingest.js';
import { MAX_KEY_LENGTH } from './router.js';

/** Keeps what it is given, in order (the brokers' side of the write). */
class Recorder implements KeyedWriter {
  readonly sent: { topic: string; key: string; value: string }[] = [];
  fail: Error | undefined;
  sendEncoded(topic: string, messages: readonly { key: string; value: string }[]): Promise<void> {
    if (this.fail) return Promise.reject(this.fail);
    for (const m of messages) this.sent.push({ topic, ...m });
    return Promise.resolve();
  }
}

const PIPELINE = parsePipeline(
  [
    'sources:',
    '  - { name: tx, topic: tx-topic }',
    '  - { name: mixed }',
    'features:',
    '  - { name: n, source: tx, entity: user.id, aggregation: count, windows: [1h] }',
    '  - { name: a, source: mixed, entity: a, aggregation: count, windows: [1h] }',
    '  - { name: b, source: mixed, entity: b, aggregation: count, windows: [1h] }',
    'geo:',
    '  - { name: fleet, source: tx, member: user.id, lat: lat, lon: lon, fences: [{ name: depot, circle: { lat: 0, lon: 0, radiusMeters: 10 } }] }',
  ].join('\n'),
);

describe('keyOfEvent', () => {
  it('keys an event as the router keys its entity: a string as itself, a finite number as its decimal text; refuses the rest with a reason', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.double(), fc.integer(), fc.boolean(), fc.constant(null), fc.constant(undefined), fc.array(fc.integer())), (v) => {
        const r = keyOfEvent({ user: { id: v } }, ['user', 'id']);
        // the model
        if (typeof v === 'number' && Number.isFinite(v)) expect(r).toEqual({ ok: true, key: String(v) });
        else if (typeof v === 'string' && v.length > 0 && v.length <= MAX_KEY_LENGTH) expect(r).toEqual({ ok: true, key: v });
        else {
          expect(r.ok).toBe(false);
          const reason = v === undefined || v === null ? 'missing-field' : typeof v === 'string' ? 'invalid-value' : 'wrong-type';
          expect(!r.ok && r.reason).toBe(reason);
          expect(!r.ok && r.message).toContain('"user.id"');
        }
      }),
    );
    expect(keyOfEvent([1], ['user'])).toEqual({ ok: false, reason: 'not-an-object', message: 'an event must be a JSON object, got an array' });
    expect(keyOfEvent({ user: 'x' }, ['user', 'id'])).toMatchObject({ ok: false, reason: 'missing-field' });
  });
});

describe('ClusterIngest', () => {
  it('produces each keyed event to the source topic and refuses alone, by index, those without a usable key', async () => {
    const w = new Recorder();
    const sut = new ClusterIngest(PIPELINE, w);
    const events = [{ user: { id: 'u1' } }, { user: {} }, 'text', { user: { id: 7 }, x: 1 }, { user: { id: '' } }];
    const out = await sut.ingest('tx', events, new Map([[2, { reason: 'invalid-json' as const, message: 'not JSON' }]]));
    expect(out).toEqual({
      accepted: 2,
      rejected: 3,
      errors: [
        { index: 1, message: 'missing-field: missing key field "user.id" (the events of this source are produced keyed by it)' },
        { index: 2, message: 'invalid-json: not JSON' },
        { index: 4, message: 'invalid-value: key field "user.id" is empty' },
      ],
    });
    expect(w.sent).toEqual([
      { topic: 'tx-topic', key: 'u1', value: JSON.stringify(events[0]) },
      { topic: 'tx-topic', key: '7', value: JSON.stringify(events[3]) },
    ]);
  });

  it('refuses a whole call into a source without a message key, or made by Tally itself, naming why, and produces nothing', async () => {
    const w = new Recorder();
    const sut = new ClusterIngest(PIPELINE, w);
    await expect(sut.ingest('mixed', [{ a: 1, b: 2 }])).rejects.toThrow(/^ingest into source "mixed" is refused in a cluster: source "mixed" declares no key field and its indexes key by different fields: "a" \(feature "a"\), "b" \(feature "b"\)/);
    await expect(sut.ingest('fleet.fences', [{}])).rejects.toThrow(/made by Tally itself/);
    await expect(sut.ingest('nope', [{}])).rejects.toThrow('unknown source "nope"');
    expect(w.sent).toEqual([]);
  });

  it('counts nothing accepted when the write fails', async () => {
    const w = new Recorder();
    w.fail = new Error('broker gone');
    await expect(new ClusterIngest(PIPELINE, w).ingest('tx', [{ user: { id: 'u' } }])).rejects.toThrow(ProduceError);
  });
});
