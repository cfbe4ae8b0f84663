// The obvious answer of a topk window: every item's exact weight, sorted. Tests compare the
// Space-Saving summaries (src/features/windows/space-saving.ts) and the service with it.
import type { TopAnswer } from '../../src/features/index.js';

export interface WeightedItem {
  item: string;
  weight: number;
}

/** Exact weight of each item. */
export function exactWeights(events: readonly WeightedItem[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const e of events) m.set(e.item, (m.get(e.item) ?? 0) + e.weight);
  return m;
}

/** The exact top-k answer: heaviest first, ties by item in code-unit order, errors 0. */
export function exactTop(weights: Map<string, number>, k: number): TopAnswer {
  const sorted = [...weights].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return { items: sorted.slice(0, k).map(([item, count]) => ({ item, count, error: 0 })), unlistedAtMost: sorted.length > k ? sorted[k][1] : 0 };
}

/**
 * Problems of `answer` against the exact weights, as text (empty when none): each listed
 * item's true weight in [count - error, count] with error <= total / capacity, the list in
 * order, at most k long, and every item heavier than `unlistedAtMost` listed.
 */
export function topBoundProblems(answer: TopAnswer, weights: Map<string, number>, k: number, total: number, capacity: number): string[] {
  const problems: string[] = [];
  const slack = 1e-9 * Math.max(1, total);
  if (answer.items.length > k) problems.push(`${answer.items.length} items listed for k = ${k}`);
  const listed = new Set(answer.items.map((x) => x.item));
  if (listed.size !== answer.items.length) problems.push('an item is listed twice');
  for (const x of answer.items) {
    const truth = weights.get(x.item) ?? 0;
    if (!(x.count - x.error <= truth + slack && truth <= x.count + slack)) problems.push(`${x.item}: true ${truth} outside [${x.count - x.error}, ${x.count}]`);
    if (x.error > total / capacity + slack) problems.push(`${x.item}: error ${x.error} above N/m = ${total / capacity}`);
  }
  for (let i = 1; i < answer.items.length; i++) {
    const [a, b] = [answer.items[i - 1], answer.items[i]];
    if (!(a.count > b.count || (a.count === b.count && a.item < b.item))) problems.push(`${a.item} before ${b.item} out of order`);
  }
  for (const [x, w] of weights) if (w > answer.unlistedAtMost + slack && !listed.has(x)) problems.push(`${x} (true ${w}) is heavier than the bound ${answer.unlistedAtMost} but not listed`);
  return problems;
}
