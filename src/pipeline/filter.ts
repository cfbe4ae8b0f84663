/**
 * The pipeline file's expressions, in CEL: `where:` filters and on-demand features.
 *
 * `where:` filters: a CEL (Common Expression Language, the language of
 * Kubernetes admission policies and Envoy) condition over one event, e.g.
 * `status == "declined"`, `kind == "enter"`, `amount > 100 && country != "US"`. Only events for
 * which it is true feed the feature, view or leaderboard that declares it.
 *
 * The only file that imports the CEL implementation (@marcbachmann/cel-js: no `eval`, no
 * dependencies, parse once and evaluate a compiled tree). Each top-level field of the event is
 * a variable of dynamic type (sources declare no schema); at load an expression must parse and
 * type-check to a condition (bool), so `amount +` or `amount + 1` stop start-up with the
 * path and the expression quoted. At run time an expression that cannot be evaluated for an
 * event (a field it names is missing, or has a type the operator does not take, such as
 * `"12" > 100`) is false for that event: the store is not fed, the event is not refused.
 */
import { Environment } from '@marcbachmann/cel-js';

/** Structural bounds of one expression: far beyond a real condition, small enough that a hostile pipeline cannot make loading slow. */
const LIMITS = { maxAstNodes: 1_000, maxDepth: 32, maxListElements: 100, maxMapEntries: 100, maxCallArguments: 8 };

const env = new Environment({ unlistedVariablesAreDyn: true, limits: LIMITS });

/** A compiled filter: true when the event passes. Never throws. */
export type EventFilter = (event: Record<string, unknown>) => boolean;

/** Why `expression` cannot be a filter (first line of the parser's or checker's message), or undefined when it can. */
export function filterProblem(expression: string): string | undefined {
  return conditionProblem(env, expression);
}

/** Compiles a filter that filterProblem() accepted. */
export function compileFilter(expression: string): EventFilter {
  return condition(env, expression);
}

/** The type `expression` checks to in `scope`, or the problem (first line of the parser's or checker's message). */
function typeIn(scope: Environment, expression: string): { problem: string } | { type: string } {
  let checked: { valid: boolean; type?: string; error?: Error };
  try {
    checked = scope.check(expression) as typeof checked;
  } catch (err) {
    return { problem: firstLine(err) };
  }
  return checked.valid ? { type: String(checked.type) } : { problem: firstLine(checked.error) };
}

/** Why `expression` is not a condition in `scope`, or undefined when it is. */
function conditionProblem(scope: Environment, expression: string): string | undefined {
  const checked = typeIn(scope, expression);
  if ('problem' in checked) return checked.problem;
  return checked.type !== 'bool' && checked.type !== 'dyn' ? `it gives ${checked.type}, not a condition (bool)` : undefined;
}

/** A checked condition as a filter: true only when it evaluates to true; never throws. */
function condition(scope: Environment, expression: string): EventFilter {
  const evaluate = scope.parse(expression);
  return (record) => {
    try {
      return evaluate(record) === true;
    } catch {
      return false;
    }
  };
}

/**
 * Compiles a condition over one record whose variables are exactly `fields` (of any type): a
 * view's fields for `similar(where:)`. A name that is not a field is a problem, as is a result
 * that is not a condition. At run time an expression that cannot be evaluated for a record (a
 * field never set, so null, compared with `>`) is false for it.
 */
export function compileRecordFilter(expression: string, fields: readonly string[]): { problem: string } | { filter: EventFilter } {
  const scoped = new Environment({ limits: LIMITS });
  for (const f of fields) scoped.registerVariable(f, 'dyn');
  const problem = conditionProblem(scoped, expression);
  return problem === undefined ? { filter: condition(scoped, expression) } : { problem };
}

/** Types an on-demand expression's variables may have (feature values are doubles). */
export type ExpressionType = 'double' | 'string' | 'bool';
export const EXPRESSION_TYPES: readonly ExpressionType[] = ['double', 'string', 'bool'];

/** Great-circle distance in metres (haversine, mean Earth radius 6,371,008.8 m, as geo/distance.ts). */
function distanceMeters(lat1: number, lon1: number, lat2: number, lon2: number): number {
  const rad = Math.PI / 180;
  const dLat = (lat2 - lat1) * rad;
  const dLon = (lon2 - lon1) * rad;
  const a = Math.sin(dLat / 2) ** 2 + Math.cos(lat1 * rad) * Math.cos(lat2 * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * 6_371_008.8 * Math.asin(Math.min(1, Math.sqrt(a)));
}

/** A compiled on-demand expression: its value for the variables, or null when it has none (an error, NaN or infinity). */
export type Evaluator = (variables: Record<string, unknown>) => number | string | boolean | null;

/**
 * Checks an on-demand expression over declared variables: undefined and a compiled evaluator,
 * or the problem (parse or type error, or a result that is not a number, string or bool).
 * Functions beyond CEL's own: `distance(lat1, lon1, lat2, lon2)` in metres.
 */
export function compileExpression(expression: string, variables: Readonly<Record<string, ExpressionType>>): { problem: string } | { evaluate: Evaluator; type: string } {
  const scoped = new Environment({ limits: LIMITS }).registerFunction('distance(double, double, double, double): double', distanceMeters);
  for (const [name, type] of Object.entries(variables)) scoped.registerVariable(name, type);
  const checked = typeIn(scoped, expression);
  if ('problem' in checked) return checked;
  if (!['double', 'int', 'uint', 'string', 'bool', 'dyn'].includes(checked.type)) return { problem: `it gives ${checked.type}; an on-demand feature gives a number, a string or a bool` };
  const run = scoped.parse(expression);
  return {
    type: checked.type,
    evaluate: (vars) => {
      try {
        const v = run(vars) as unknown;
        if (typeof v === 'bigint') return Number(v);
        if (typeof v === 'number') return Number.isFinite(v) ? v : null;
        return typeof v === 'string' || typeof v === 'boolean' ? v : null;
      } catch {
        return null;
      }
    },
  };
}

function firstLine(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.split('\n')[0].trim();
}
