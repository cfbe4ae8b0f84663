// Timers: fixed-period jobs, chained jobs that never overlap themselves, cancel and stop.
import { jest } from '@jest/globals';
import { Timers } from './timers.js';

describe('Timers', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('runs an every-job on its period until cancelled, and replaces a job of the same name', () => {
    const t = new Timers();
    let a = 0;
    let b = 0;
    t.every('sweep', 100, () => a++);
    jest.advanceTimersByTime(350);
    expect(a).toBe(3);
    t.every('sweep', 50, () => b++);
    jest.advanceTimersByTime(200);
    expect([a, b]).toEqual([3, 4]);
    expect(t.list()).toEqual([{ name: 'sweep', everyMs: 50, kind: 'every' }]);
    t.cancel('sweep');
    jest.advanceTimersByTime(500);
    expect(b).toBe(4);
    expect(t.list()).toEqual([]);
  });

  it('re-arms a chain only after its run settles, failures included, so runs never overlap', async () => {
    const t = new Timers();
    const runs: number[] = [];
    let finish: (() => void) | undefined;
    let fail = true;
    t.chain('snapshot', 1_000, () => {
      runs.push(Date.now());
      if (fail) {
        fail = false;
        return Promise.reject(new Error('disk full'));
      }
      return new Promise<void>((resolve) => (finish = resolve));
    });
    await jest.advanceTimersByTimeAsync(1_000);
    expect(runs.length).toBe(1);
    // The failed run re-armed: the second starts 1 s later and takes 5 s, with no run in between.
    await jest.advanceTimersByTimeAsync(1_000);
    expect(runs.length).toBe(2);
    await jest.advanceTimersByTimeAsync(5_000);
    expect(runs.length).toBe(2);
    finish!();
    await jest.advanceTimersByTimeAsync(1_000);
    expect(runs.length).toBe(3);
    expect(runs[2] - runs[1]).toBe(6_000);
  });

  it('stops every job at shutdown and ignores later registrations', async () => {
    const t = new Timers();
    let n = 0;
    t.every('expiry', 10, () => n++);
    t.chain('snapshot', 10, async () => void n++);
    t.onApplicationShutdown();
    t.every('late', 10, () => n++);
    await jest.advanceTimersByTimeAsync(100);
    expect(n).toBe(0);
    expect(t.list()).toEqual([]);
  });
});
