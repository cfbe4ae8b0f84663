// Repartitioning (repartition.ts): which updates leave for their entity's owner, with which
// origin, and that the owner applies each origin's updates exactly once whatever the senders
// (an owner, a standby, a new owner reading on from an older state) and however their records
// interleave, also across a handover of the de-duplication state.
import fc from 'fast-check';
import { RepartitionDedup, Repartitioner, parseRepartitionRecord, type RepartitionRecord } from './repartition.js';
import type { Update } from './router.js';

const merchant = (entity: string): Update => ({ store: 'feature', name: 'merchant_count', entity, value: 1 });
const card = (entity: string): Update => ({ store: 'feature', name: 'card_count', entity, value: 1 });
const team = (member: string): Update => ({ store: 'leaderboard', name: 'teams', member, score: 3 });

describe(Repartitioner.name, () => {
  const partitionOf = (key: string) => key.length % 4;

  it('takes the updates of the repartitioned stores only, to their entity\'s partition, numbered per message', () => {
    const r = new Repartitioner({ stores: new Set(['feature:merchant_count', 'leaderboard:teams']), partitionOf });
    r.at('tx', 2, '41');
    expect(r.take(card('c-1'), 'tx', 1000)).toBe(false);
    expect(r.take(merchant('m-12'), 'tx', 1000)).toBe(true);
    expect(r.take(team('blue'), 'tx', 1000)).toBe(true);
    r.at('tx', 2, '42');
    expect(r.take(merchant('m-7'), 'tx', 1001)).toBe(true);
    const out = r.drain();
    expect(out.map((o) => [o.partition, o.key])).toEqual([
      [partitionOf('m-12'), 'm-12'],
      [partitionOf('blue'), 'blue'],
      [partitionOf('m-7'), 'm-7'],
    ]);
    expect(out.map((o) => (JSON.parse(o.value) as RepartitionRecord).o)).toEqual([
      ['tx', 2, '41', 0],
      ['tx', 2, '41', 1],
      ['tx', 2, '42', 0],
    ]);
    expect(parseRepartitionRecord(Buffer.from(out[1].value))).toEqual({ o: ['tx', 2, '41', 1], src: 'tx', ts: 1000, u: team('blue') });
    expect(r.drain()).toEqual([]);
  });

  it('sends the updates of time-driven changes (no origin) at once, apart from the batch being applied', async () => {
    const sent: string[][] = [];
    const r = new Repartitioner({ stores: new Set(['feature:merchant_count']), partitionOf }, async (records) => void sent.push(records.map((x) => x.key)));
    r.at('tx', 0, '9');
    r.take(merchant('m-batch'), 'tx', 1);
    r.at(undefined, -1, undefined);
    r.take(merchant('m-expired'), 'tx', 5);
    await r.sendTimed();
    await r.sendTimed(); // nothing more to send
    expect(sent).toEqual([['m-expired']]);
    const batch = r.drain();
    expect(batch.map((o) => o.key)).toEqual(['m-batch']);
    expect((JSON.parse(batch[0].value) as RepartitionRecord).o).toEqual(['tx', 0, '9', 0]);
  });

  it('refuses what is not a repartition record, naming it', () => {
    expect(() => parseRepartitionRecord(null)).toThrow('empty repartition record');
    expect(() => parseRepartitionRecord(Buffer.from('{"a":1}'))).toThrow('not a repartition record');
    expect(() => parseRepartitionRecord(Buffer.from('{"o":[1],"src":"tx","ts":1,"u":{}}'))).toThrow('malformed origin');
    expect(() => parseRepartitionRecord(Buffer.from('nope'))).toThrow();
  });
});

describe(RepartitionDedup.name, () => {
  /** The updates of one origin partition: (offset, seq) in order, several per message at times. */
  const originArb = fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 30 }).map((perMessage) => perMessage.flatMap((n, offset) => Array.from({ length: n }, (_, seq) => ({ offset: offset * 2, seq }))));

  it('applies each update of every origin once, in order, whatever the senders and interleaving, across handovers', () => {
    fc.assert(
      fc.property(
        fc.array(originArb, { minLength: 1, maxLength: 3 }),
        fc.array(fc.nat(), { minLength: 1, maxLength: 400 }),
        fc.array(fc.nat(), { maxLength: 4 }),
        (origins, choices, handovers) => {
          // Each origin partition has senders: the first from the start, others from a later
          // position k (a new owner or a standby reading on from a state that covers the
          // messages before k), which start only once the updates before k were sent: a state
          // covers a message only after its updates were sent.
          const senders = origins.flatMap((items, o) => {
            const starts = [0, choices[o % choices.length] % items.length, choices[(o + 1) % choices.length] % (items.length + 1)];
            return starts.map((start) => ({ o, items, at: start, from: start }));
          });
          const sent = origins.map(() => 0);
          let dedup = new RepartitionDedup();
          const applied: string[][] = origins.map(() => []);
          let step = 0;
          while (senders.some((s) => s.at < s.items.length)) {
            const live = senders.filter((s) => s.at < s.items.length && s.from <= sent[s.o]);
            const s = live[choices[step % choices.length] % live.length];
            const item = s.items[s.at++];
            sent[s.o] = Math.max(sent[s.o], s.at);
            if (dedup.accept(7, ['tx', s.o, String(item.offset), item.seq])) applied[s.o].push(`${item.offset}.${item.seq}`);
            // The partition's state handed over to another member part-way.
            if (handovers.includes(step)) {
              const next = new RepartitionDedup();
              next.load(7, JSON.parse(JSON.stringify(dedup.export(7))));
              dedup = next;
            }
            step++;
          }
          origins.forEach((items, o) => expect(applied[o]).toEqual(items.map((i) => `${i.offset}.${i.seq}`)));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('keeps partitions apart, forgets the ones handed over, and applies time-driven updates always', () => {
    const d = new RepartitionDedup();
    expect(d.accept(1, ['tx', 0, '5', 0])).toBe(true);
    expect(d.accept(2, ['tx', 0, '5', 0])).toBe(true);
    expect(d.accept(1, ['tx', 0, '5', 0])).toBe(false);
    expect(d.accept(1, ['tx', 1, '5', 0])).toBe(true);
    expect(d.accept(1, null)).toBe(true);
    expect(d.accept(1, null)).toBe(true);
    d.forget([1]);
    expect(d.export(1)).toEqual([]);
    expect(d.export(2)).toEqual([{ topic: 'tx', partition: 0, offset: '5', seq: 0 }]);
    expect(d.accept(1, ['tx', 0, '5', 0])).toBe(true);
  });
});
