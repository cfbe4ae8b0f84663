import { ChangeFeed, featureTopic } from './change-feed.js';

describe(ChangeFeed.name, () => {
  it('says whether a family (kind and name) has listeners, as topics are subscribed and left', () => {
    const feed = new ChangeFeed<number>();
    expect(feed.listening('feature', 'f')).toBe(false);
    const seen: number[] = [];
    const offEntity = feed.subscribe(featureTopic('f', 'card:1'), (c) => seen.push(c));
    const offAll = feed.subscribe(featureTopic('f'), (c) => seen.push(-c));
    const offOther = feed.subscribe('leaderboard:top', () => undefined);
    expect(feed.listening('feature', 'f')).toBe(true);
    expect(feed.listening('feature', 'g')).toBe(false);
    expect(feed.listening('leaderboard', 'top')).toBe(true);
    feed.publish(featureTopic('f', 'card:1'), 1);
    feed.publish(featureTopic('f'), 2);
    expect(seen).toEqual([1, -2]);
    offEntity();
    expect(feed.listening('feature', 'f')).toBe(true);
    offAll();
    offAll(); // twice: no effect
    expect(feed.listening('feature', 'f')).toBe(false);
    offOther();
    expect(feed.listening('leaderboard', 'top')).toBe(false);
  });

  it('counts a topic once however many listeners it has', () => {
    const feed = new ChangeFeed<number>();
    const a = feed.subscribe('geo:g', () => undefined);
    const b = feed.subscribe('geo:g', () => undefined);
    a();
    expect(feed.listening('geo', 'g')).toBe(true);
    b();
    expect(feed.listening('geo', 'g')).toBe(false);
  });
});
