import { MAX_TILES_PER_WINDOW, firstTileInWindow, tileWidthFor } from './tiling.js';

describe('tileWidthFor', () => {
  it.each([
    [60_000, 2_000],
    [300_000, 10_000],
    [3_600_000, 120_000],
    [86_400_000, 3_600_000],
    [7 * 86_400_000, 6 * 3_600_000],
  ])('window %i ms uses %i ms tiles', (w, t) => expect(tileWidthFor(w)).toBe(t));

  it('never cuts a window into more than MAX_TILES_PER_WINDOW tiles', () => {
    for (let w = 100; w < 90 * 86_400_000; w = Math.ceil(w * 1.37)) {
      expect(Math.ceil(w / tileWidthFor(w))).toBeLessThanOrEqual(MAX_TILES_PER_WINDOW);
    }
  });

  it('includes exactly the tiles that overlap (now - W, now]', () => {
    const w = 60_000;
    const t = tileWidthFor(w);
    const now = 1_000_000_123;
    const first = firstTileInWindow(now, w, t);
    expect((first + 1) * t).toBeGreaterThan(now - w);
    expect(first * t).toBeLessThanOrEqual(now - w);
  });
});
