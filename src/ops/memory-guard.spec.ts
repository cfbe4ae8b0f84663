import { MemoryGuard } from './memory-guard.js';

describe(MemoryGuard.name, () => {
  it('reads memory every sampleEvery checks and is full at or above the budget', () => {
    let used = 50;
    let reads = 0;
    const sut = new MemoryGuard(100, () => (reads++, used), 4);
    expect(reads).toBe(1); // read once when built
    used = 100;
    expect([sut.full(), sut.full(), sut.full()]).toEqual([false, false, false]);
    expect(sut.full()).toBe(true); // 4th check reads
    expect(reads).toBe(2);
    used = 99;
    expect(sut.refresh()).toBe(99);
    expect(sut.full()).toBe(false);
  });

  it('measures the real heap by default', () => {
    const sut = new MemoryGuard(Number.MAX_SAFE_INTEGER);
    expect(sut.refresh()).toBeGreaterThan(1_000_000);
    expect(sut.full()).toBe(false);
  });
});
