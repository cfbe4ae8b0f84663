// The obvious implementation of windowed features: keep every event, filter and aggregate on
// read, under the tile semantics documented in src/features/windows/tiling.ts. Tests compare
// the engine and the whole service against it.
import { tileWidthFor } from '../../src/features/index.js';
import type { Aggregation } from '../../src/pipeline/pipeline.js';

export interface ModelEvent {
  entity: string;
  value: number | string;
  ts: number;
}

export class FeatureModel {
  private readonly events: ModelEvent[] = [];

  constructor(
    private readonly aggregation: Aggregation,
    private readonly q = 0.5,
  ) {}

  add(entity: string, value: number | string, ts: number): void {
    this.events.push({ entity, value, ts });
  }

  /** Events of `entity` in a window of `windowMs` read at `now`: those whose tile overlaps (now - W, now]. */
  inWindow(entity: string, windowMs: number, now: number): ModelEvent[] {
    const t = tileWidthFor(windowMs);
    return this.events.filter((e) => e.entity === entity && (!Number.isFinite(windowMs) || Math.floor(e.ts / t) * t + t > now - windowMs));
  }

  read(entity: string, windowMs: number, now: number): number | null {
    const es = this.inWindow(entity, windowMs, now);
    const nums = es.map((e) => e.value as number);
    if (es.length === 0) return this.aggregation === 'count' ? 0 : null;
    switch (this.aggregation) {
      case 'count':
        return es.length;
      case 'sum':
        return nums.reduce((a, b) => a + b, 0);
      case 'min':
        return Math.min(...nums);
      case 'max':
        return Math.max(...nums);
      case 'avg':
        return nums.reduce((a, b) => a + b, 0) / nums.length;
      case 'last': {
        let best = es[0];
        for (const e of es) if (e.ts >= best.ts) best = e;
        return best.value as number;
      }
      case 'distinct':
        return new Set(es.map((e) => String(e.value))).size;
      case 'quantile': {
        const sorted = [...nums].sort((a, b) => a - b);
        return sorted[Math.floor(this.q * (sorted.length - 1))];
      }
      case 'topk': {
        // Each event weighs 1: the value is the most frequent item's count (exact while the
        // window holds at most topkCapacity(k) distinct items).
        const counts = new Map<string, number>();
        for (const e of es) counts.set(String(e.value), (counts.get(String(e.value)) ?? 0) + 1);
        return Math.max(...counts.values());
      }
    }
  }
}
