import { CoalescingQueue } from './coalescing-queue.js';

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
});
