/**
 * Online serving: many entities x many named features in one call, for inference. A request
 * names features as `feature:window` (and, with views, `view:field`); the list is compiled
 * once into a plan (resolved readers in request order) and cached, so repeated requests with
 * the same list do not re-parse or re-resolve names.
 */
import { UnknownFeatureError, type FeatureStore } from './feature-store.js';
import type { View, ViewStore, ViewValue } from './views/view-store.js';
import type { WindowedAggregator } from './windows/windowed-aggregator.js';

export interface OnlineRow {
  entity: string;
  /** Values in the order of the requested names; null when unknown or empty. */
  values: ViewValue[];
  /** Per value, the event time it reflects (epoch ms), or null. */
  freshness: (number | null)[];
}

type PlanStep = { kind: 'window'; feature: WindowedAggregator; window: string } | { kind: 'view'; view: View; index: number };

/** Plans kept for reuse; distinct feature lists beyond this evict the oldest plan. */
export const MAX_CACHED_PLANS = 1_000;

export class OnlineFeatures {
  private readonly plans = new Map<string, PlanStep[]>();

  constructor(
    private readonly store: FeatureStore,
    private readonly views?: ViewStore,
  ) {}

  /** Compiles (or reuses) the plan for `names`; throws UnknownFeatureError naming every unknown name. */
  plan(names: readonly string[]): PlanStep[] {
    const key = names.join('\u0000');
    const cached = this.plans.get(key);
    if (cached) return cached;
    const unknown: string[] = [];
    const steps: PlanStep[] = [];
    for (const name of names) {
      const step = this.resolve(name);
      if (step === undefined) unknown.push(name);
      else steps.push(step);
    }
    if (unknown.length > 0) {
      throw new UnknownFeatureError(`unknown feature${unknown.length > 1 ? 's' : ''} ${unknown.map((n) => `"${n}"`).join(', ')} (write feature:window or view:field, e.g. ${this.example()})`);
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
        const step = steps[j];
        const r = step.kind === 'window' ? step.feature.read(entity, step.window, now) : step.view.readField(entity, step.index, now);
        values[j] = r.value;
        freshness[j] = 'ts' in r ? r.ts : r.lastEventAt;
      }
      rows[i] = { entity, values, freshness };
    }
    return rows;
  }

  private resolve(name: string): PlanStep | undefined {
    const at = name.lastIndexOf(':');
    if (at <= 0) return undefined;
    const owner = name.slice(0, at);
    const part = name.slice(at + 1);
    if (this.store.has(owner)) {
      const feature = this.store.feature(owner);
      return feature.hasWindow(part) ? { kind: 'window', feature, window: part } : undefined;
    }
    if (this.views?.has(owner)) {
      const view = this.views.view(owner);
      const index = view.indexOf(part);
      return index < 0 ? undefined : { kind: 'view', view, index };
    }
    return undefined;
  }

  private example(): string {
    const name = this.store.names()[0];
    return name ? `${name}:${this.store.feature(name).windows[0]}` : 'card_txn_count:1h';
  }
}
