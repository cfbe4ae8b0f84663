import fc from 'fast-check';
import { CoalescingQueue, type Consumer } from './coalescing-queue.js';

const tick = () => new Promise((r) => setImmediate(r));

describe(CoalescingQueue.name, () => {
  it('computes a dirty key only when pulled, so a hot key yields its latest value once', async () => {
    let value = 0;
    let computed = 0;
    const q = new CoalescingQueue<number>(() => {});
    for (let i = 0; i < 1000; i++) {
      value = i;
      q.offer('k', () => (computed++, value));
    }
    expect(await q.next()).toEqual({ value: 999, done: false });
    expect(computed).toBe(1);
    expect(q.coalesced).toBe(999);
  });

  it('wakes a waiting consumer on the next macrotask with every key dirtied meanwhile', async () => {
    const q = new CoalescingQueue<string>(() => {});
    const first = q.next();
    q.offer('a', () => 'a1');
    q.offer('a', () => 'a2');
    q.offer('b', () => 'b1');
    expect(await first).toEqual({ value: 'a2', done: false });
    expect(await q.next()).toEqual({ value: 'b1', done: false });
  });

  it('skips keys whose computation yields nothing', async () => {
    const q = new CoalescingQueue<string>(() => {});
    q.offer('a', () => undefined);
    q.offer('b', () => 'b');
    expect(await q.next()).toEqual({ value: 'b', done: false });
  });

  it('bounds the dirty keys and counts what it drops', () => {
    const q = new CoalescingQueue<number>(() => {}, 3);
    for (let i = 0; i < 10; i++) q.offer(`k${i}`, () => i);
    expect(q.dropped).toBe(7);
  });

  it('unsubscribes once and ends a pending pull when the consumer returns', async () => {
    let closed = 0;
    const q = new CoalescingQueue<number>(() => closed++);
    const pending = q.next();
    await q.return();
    await q.return();
    expect(await pending).toEqual({ value: undefined, done: true });
    expect(closed).toBe(1);
    q.offer('k', () => 1);
    await tick();
    expect(await q.next()).toEqual({ value: undefined, done: true });
  });

  it('hands values to a consumer without promises: at once when one is dirty, else on release, and ends it on close', async () => {
    const seen: string[] = [];
    const consumer: Consumer<string> = { deliver: (v) => seen.push(v), end: () => seen.push('(end)') };
    const q = new CoalescingQueue<string>(() => {});
    q.offer('a', () => 'a1');
    q.pull(consumer);
    expect(seen).toEqual(['a1']); // synchronously
    q.pull(consumer);
    q.offer('b', () => 'b1');
    q.offer('b', () => 'b2');
    expect(seen).toEqual(['a1']);
    await tick();
    expect(seen).toEqual(['a1', 'b2']);
    q.pull(consumer);
    await q.return();
    expect(seen).toEqual(['a1', 'b2', '(end)']);
    q.pull(consumer);
    expect(seen).toEqual(['a1', 'b2', '(end)', '(end)']);
  });

  it('yields what a plain ordered map of dirty keys yields, for any offers and pulls', () => {
    // The model: a Map from key to its latest value, in the order keys first became dirty; a pull
    // takes the first entry. The queue keeps its first key apart from the rest, which this checks.
    const op = fc.oneof(
      fc.record({ offer: fc.constantFrom('a', 'b', 'c', 'd', 'e'), value: fc.integer({ min: -1, max: 99 }) }),
      fc.constant({ pull: true as const }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), fc.integer({ min: 1, max: 6 }), (ops, maxKeys) => {
        const model = new Map<string, number>();
        let modelDropped = 0;
        const q = new CoalescingQueue<number>(() => {}, maxKeys);
        const got: (number | undefined)[] = [];
        const want: (number | undefined)[] = [];
        for (const o of ops) {
          if ('offer' in o) {
            // -1 computes to undefined: the key is skipped when pulled
            q.offer(o.offer, () => (o.value < 0 ? undefined : o.value));
            if (model.has(o.offer) || model.size < maxKeys) model.set(o.offer, o.value);
            else modelDropped++;
          } else {
            let delivered: number | undefined;
            const consumer: Consumer<number> = { deliver: (v) => (delivered = v), end: () => {} };
            q.pull(consumer);
            if (delivered === undefined) q.return(); // a pull that waits: the queue is done with
            got.push(delivered);
            let expected: number | undefined;
            for (const [k, v] of model) {
              model.delete(k);
              if (v >= 0) {
                expected = v;
                break;
              }
            }
            want.push(expected);
            if (delivered === undefined) break;
          }
        }
        expect(got).toEqual(want);
        expect(q.dropped).toBe(modelDropped);
      }),
    );
  });
});
