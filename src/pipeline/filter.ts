/**
 * `where:` filters of the pipeline file: a CEL (Common Expression Language, the language of
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
  let checked: { valid: boolean; type?: string; error?: Error };
  try {
    checked = env.check(expression) as typeof checked;
  } catch (err) {
    return firstLine(err);
  }
  if (!checked.valid) return firstLine(checked.error);
  if (checked.type !== 'bool' && checked.type !== 'dyn') return `it gives ${checked.type}, not a condition (bool)`;
  return undefined;
}

/** Compiles a filter that filterProblem() accepted. */
export function compileFilter(expression: string): EventFilter {
  const evaluate = env.parse(expression);
  return (event) => {
    try {
      return evaluate(event) === true;
    } catch {
      return false;
    }
  };
}

function firstLine(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.split('\n')[0].trim();
}
