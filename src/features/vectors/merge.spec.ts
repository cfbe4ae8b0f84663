import fc from 'fast-check';
import { compareHits, mergeByDistance, type SimilarHit } from './merge.js';

describe(mergeByDistance.name, () => {
  it('ranks the partitions\' answers as one index over their union would: the k nearest, ties by entity', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.record({ entity: fc.string({ minLength: 1, maxLength: 4 }), distance: fc.integer({ min: 0, max: 20 }).map((d) => d / 4) }), { selector: (h) => h.entity, maxLength: 60 }),
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 0, max: 15 }),
        fc.infiniteStream(fc.nat()),
        (all, partitionCount, k, picks) => {
          // Each entity lives in one partition; each partition answers its own k nearest.
          const partitions: SimilarHit[][] = Array.from({ length: partitionCount }, () => []);
          for (const h of all) partitions[picks.next().value % partitionCount].push(h);
          const answers = partitions.map((p) => [...p].sort(compareHits).slice(0, k));
          expect(mergeByDistance(answers, k)).toEqual([...all].sort(compareHits).slice(0, k));
        },
      ),
    );
  });

  it('counts an entity answered by two partitions once, at its smaller distance', () => {
    expect(
      mergeByDistance(
        [
          [
            { entity: 'a', distance: 0.5 },
            { entity: 'b', distance: 0.7 },
          ],
          [
            { entity: 'a', distance: 0.2 },
            { entity: 'c', distance: 0.7 },
          ],
        ],
        3,
      ),
    ).toEqual([
      { entity: 'a', distance: 0.2 },
      { entity: 'b', distance: 0.7 },
      { entity: 'c', distance: 0.7 },
    ]);
  });
});
