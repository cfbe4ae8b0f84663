/**
 * Online serving: many entities x many named features in one call, for inference. A request
 * names features as `feature:window` (and, with views, `view:field`); the list is compiled
 * once into a plan (resolved readers in request order) and cached, so repeated requests with
 * the same list do not re-parse or re-resolve names.
 */
import { UnknownFeatureError, type FeatureStore } from './feature-store.js';
import type { WindowedAggregator } from './windows/windowed-aggregator.js';

export interface OnlineRow {
  entity: string;
  /** Values in the order of the requested names; null when unknown or empty. */
  values: (number | string | boolean | number[] | null)[];
  /** Per value, the event time it reflects (epoch ms), or null. */
  freshness: (number | null)[];
}

interface PlanStep {
  feature: WindowedAggregator;
  window: string;
}

/** Plans kept for reuse; distinct feature lists beyond this evict the oldest plan. */
export const MAX_CACHED_PLANS = 1_000;

export class OnlineFeatures {
  private readonly plans = new Map<string, PlanStep[]>();

  constructor(private readonly store: FeatureStore) {}

  /** Compiles (or reuses) the plan for `names`; throws UnknownFeatureError naming every unknown name. */
  plan(names: readonly string[]): PlanStep[] {
    const key = names.join('\u0000');
    const cached = this.plans.get(key);
    if (cached) return cached;
    const unknown: string[] = [];
    const steps: PlanStep[] = [];
    for (const name of names) {
      const at = name.lastIndexOf(':');
      const feature = at > 0 && this.store.has(name.slice(0, at)) ? this.store.feature(name.slice(0, at)) : undefined;
      const window = name.slice(at + 1);
      if (feature === undefined || !feature.hasWindow(window)) unknown.push(name);
      else steps.push({ feature, window });
    }
    if (unknown.length > 0) {
      throw new UnknownFeatureError(`unknown feature${unknown.length > 1 ? 's' : ''} ${unknown.map((n) => `"${n}"`).join(', ')} (write feature:window, e.g. ${this.example()})`);
    }
    if (this.plans.size >= MAX_CACHED_PLANS) this.plans.delete(this.plans.keys().next().value!);
    this.plans.set(key, steps);
    return steps;
  }

  /** Rows in the order of `entities`, values in the order of `names`, as of `now`. */
  fetch(entities: readonly string[], names: readonly string[], now: number): OnlineRow[] {
    const steps = this.plan(names);
    const rows: OnlineRow[] = new Array(entities.length);
    for (let i = 0; i < entities.length; i++) {
      const entity = entities[i];
      const values: OnlineRow['values'] = new Array(steps.length);
      const freshness: OnlineRow['freshness'] = new Array(steps.length);
      for (let j = 0; j < steps.length; j++) {
        const r = steps[j].feature.read(entity, steps[j].window, now);
        values[j] = r.value;
        freshness[j] = r.lastEventAt;
      }
      rows[i] = { entity, values, freshness };
    }
    return rows;
  }

  private example(): string {
    const name = this.store.names()[0];
    return name ? `${name}:${this.store.feature(name).windows[0]}` : 'card_txn_count:1h';
  }
}
