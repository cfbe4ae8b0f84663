/**
 * Online serving: many entities x many named features in one call, for inference. A request
 * names features as `feature:window` (and, with views, `view:field`), or an on-demand
 * feature of the pipeline by its name; the list is compiled once into a plan (resolved
 * readers in request order) and cached, so repeated requests with the same list do not
 * re-parse or re-resolve names.
 *
 * An on-demand feature is computed per entity at request time from its inputs (served values)
 * and the caller's request context for that entity; its freshness is its oldest input's, and
 * it is null when an input has no value or the expression has none (a division by zero).
 *
 * A topk window is served as its list, `[{ item, count, error }, ...]` heaviest first (an
 * empty list when the window holds no event), not as its top count: a row is what a model
 * consumes, and the list is the feature. The load refuses it as an on-demand input.
 */
import { InputError } from '../input-error.js';
import { compileExpression, type Evaluator } from '../pipeline/filter.js';
import type { OnDemandSpec } from '../pipeline/pipeline.js';
import { UnknownFeatureError, type FeatureStore } from './feature-store.js';
import type { View, ViewStore, ViewValue } from './views/view-store.js';
import type { TopItem } from './windows/space-saving.js';
import type { WindowedAggregator } from './windows/windowed-aggregator.js';

/** A served value: a window's number, a view field's value, or a topk window's list. */
export type ServedValue = ViewValue | TopItem[];

export interface OnlineRow {
  entity: string;
  /** Values in the order of the requested names; null when unknown or empty (a topk window: its list, empty). */
  values: ServedValue[];
  /** Per value, the event time it reflects (epoch ms), or null. */
  freshness: (number | null)[];
}

type ServedStep = { kind: 'window'; feature: WindowedAggregator; window: string } | { kind: 'view'; view: View; index: number };
type DerivedStep = { kind: 'derived'; spec: OnDemandSpec; inputs: ServedStep[]; evaluate: Evaluator };
type PlanStep = ServedStep | DerivedStep;

const CEL_TYPE_OF_JSON: Record<string, string> = { number: 'double', string: 'string', boolean: 'bool' };

/** Plans kept for reuse; distinct feature lists beyond this evict the oldest plan. */
export const MAX_CACHED_PLANS = 1_000;

export class OnlineFeatures {
  private readonly plans = new Map<string, PlanStep[]>();

  private readonly onDemand = new Map<string, OnDemandSpec>();

  constructor(
    private readonly store: FeatureStore,
    private readonly views?: ViewStore,
    onDemand: readonly OnDemandSpec[] = [],
  ) {
    for (const o of onDemand) this.onDemand.set(o.name, o);
  }

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

  /**
   * Rows in the order of `entities`, values in the order of `names`, as of `now`. `contexts`
   * (aligned with `entities`) holds each entity's request values for on-demand features;
   * throws InputError when one they need is missing or of the wrong type. With `at`, every
   * value is read as of that moment (readAt; InputError when a store keeps no history reaching it).
   */
  fetch(entities: readonly string[], names: readonly string[], now: number, contexts?: readonly unknown[], at?: number): OnlineRow[] {
    const steps = this.plan(names);
    if (at !== undefined) for (const step of steps) checkAsOf(step, at, now);
    if (contexts !== undefined && contexts.length !== entities.length) throw new InputError(`context has ${contexts.length} entries for ${entities.length} entities; give one per entity (null for none)`);
    const rows: OnlineRow[] = new Array(entities.length);
    for (let i = 0; i < entities.length; i++) {
      const entity = entities[i];
      const values: OnlineRow['values'] = new Array(steps.length);
      const freshness: OnlineRow['freshness'] = new Array(steps.length);
      for (let j = 0; j < steps.length; j++) {
        const step = steps[j];
        if (step.kind === 'derived') {
          const d = this.derive(step, entity, contexts?.[i], now, at);
          values[j] = d.value;
          freshness[j] = d.ts;
          continue;
        }
        const r = readServed(step, entity, now, at);
        values[j] = r.value;
        freshness[j] = r.ts;
      }
      rows[i] = { entity, values, freshness };
    }
    return rows;
  }

  /** An on-demand value of `entity`: null (and no time) when an input has none. */
  private derive(step: DerivedStep, entity: string, context: unknown, now: number, at: number | undefined): { value: ViewValue; ts: number | null } {
    const vars: Record<string, unknown> = {};
    const { spec } = step;
    for (const r of spec.request) {
      const v = context !== null && typeof context === 'object' ? (context as Record<string, unknown>)[r.name] : undefined;
      if (v === undefined || v === null) throw new InputError(`on-demand feature "${spec.name}" needs "${r.name}" (${r.type}) in the context of entity "${entity}"`);
      if (CEL_TYPE_OF_JSON[typeof v] !== r.type || (typeof v === 'number' && !Number.isFinite(v))) {
        throw new InputError(`on-demand feature "${spec.name}": "${r.name}" of entity "${entity}" must be a ${r.type}, got ${JSON.stringify(v)}`);
      }
      vars[r.name] = v;
    }
    let oldest: number | null = null;
    for (let k = 0; k < step.inputs.length; k++) {
      const r = readServed(step.inputs[k], entity, now, at);
      if (r.value === null || r.ts === null) return { value: null, ts: null };
      vars[spec.inputs[k].name] = r.value;
      if (oldest === null || r.ts < oldest) oldest = r.ts;
    }
    const value = step.evaluate(vars);
    return { value, ts: value === null ? null : oldest };
  }

  private resolve(name: string): PlanStep | undefined {
    const derived = this.onDemand.get(name);
    if (derived !== undefined) {
      const inputs = derived.inputs.map((x) => this.resolve(x.ref));
      const types: Record<string, 'double' | 'string' | 'bool'> = {};
      derived.inputs.forEach((x, k) => (types[x.name] = inputs[k]?.kind === 'view' ? viewType(inputs[k]) : 'double'));
      for (const r of derived.request) types[r.name] = r.type;
      const compiled = compileExpression(derived.expression, types);
      if (inputs.some((x) => x === undefined || x.kind === 'derived') || 'problem' in compiled) return undefined;
      return { kind: 'derived', spec: derived, inputs: inputs as ServedStep[], evaluate: compiled.evaluate };
    }
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

/** A served value and the event time it reflects, now or as of `at`. */
function readServed(step: ServedStep, entity: string, now: number, at: number | undefined): { value: ServedValue; ts: number | null } {
  if (step.kind === 'window') {
    const r = at === undefined ? step.feature.read(entity, step.window, now) : step.feature.readAt(entity, step.window, at, now);
    return { value: r.top === undefined ? r.value : r.top.items, ts: r.lastEventAt };
  }
  const r = at === undefined ? step.view.readField(entity, step.index, now) : step.view.readFieldAt(entity, step.index, at, now);
  return { value: r.value, ts: r.ts };
}

/** Throws InputError unless every store behind `step` can answer as of `at`. */
function checkAsOf(step: PlanStep, at: number, now: number): void {
  if (step.kind === 'derived') for (const input of step.inputs) checkAsOf(input, at, now);
  else if (step.kind === 'window') step.feature.checkAsOf(at, now);
  else step.view.checkAsOf(at, now);
}

/** The expression type of a view field step (as load.ts servedType()). */
function viewType(step: ServedStep): 'double' | 'string' | 'bool' {
  if (step.kind !== 'view') return 'double';
  const type = step.view.typeOf(step.index);
  return type === 'string' ? 'string' : type === 'boolean' ? 'bool' : 'double';
}
