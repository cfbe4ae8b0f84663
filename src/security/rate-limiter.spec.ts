import { RateLimiter } from './rate-limiter.js';

describe(RateLimiter.name, () => {
  it('grants up to the capacity at once, then refills at the rate', () => {
    const sut = new RateLimiter(10, 100);
    expect(sut.take('a', 60, 0)).toBe(0);
    expect(sut.take('a', 60, 0)).toBe(2_000); // 40 left, 20 missing at 10/s
    expect(sut.take('a', 60, 1_999)).toBeGreaterThan(0);
    expect(sut.take('a', 60, 2_000)).toBe(0);
    expect(sut.take('a', 1, 2_000)).toBe(100);
  });

  it('keeps one bucket per principal', () => {
    const sut = new RateLimiter(1, 10);
    expect(sut.take('a', 10, 0)).toBe(0);
    expect(sut.take('a', 1, 0)).toBeGreaterThan(0);
    expect(sut.take('b', 10, 0)).toBe(0);
  });

  it('never holds more than the capacity, however long a bucket was idle', () => {
    const sut = new RateLimiter(1_000, 50);
    sut.take('a', 1, 0);
    expect(sut.take('a', 50, 1e9)).toBe(0);
    expect(sut.take('a', 1, 1e9)).toBeGreaterThan(0);
  });

  it('counts a cost above the capacity as the capacity, so it can run on a full bucket', () => {
    const sut = new RateLimiter(10, 100);
    expect(sut.take('a', 1_000, 0)).toBe(0);
    expect(sut.take('a', 1_000, 0)).toBe(10_000);
  });

  it('remembers a bounded number of principals, the least recently seen forgotten first', () => {
    const sut = new RateLimiter(1, 5, 3);
    for (const id of ['a', 'b', 'c']) sut.take(id, 5, 0);
    sut.take('a', 0, 0); // a is now the most recent
    sut.take('d', 5, 0); // forgets b
    expect(sut.size).toBe(3);
    expect(sut.take('a', 1, 0)).toBeGreaterThan(0);
    expect(sut.take('b', 5, 0)).toBe(0); // forgotten: back full
  });

  it('is off with a rate of 0', () => {
    const sut = new RateLimiter(0, 0);
    expect(sut.enabled).toBe(false);
    expect(sut.take('a', 1e9, 0)).toBe(0);
  });
});
