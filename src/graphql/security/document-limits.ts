/**
 * Demand control for GraphQL documents: measures that bound what one operation may ask of
 * the server, computed by walking the document once with each fragment measured once
 * (memoized), so a fragment "bomb" costs the walk nothing more than its text.
 *
 * - structure (`checkStructure`, variable-independent, run before the standard validation):
 *   depth and aliases per operation with fragments expanded, nesting of argument literals,
 *   and how often one selection set selects the same response name. The last bound exists because graphql-js compares every
 *   pair of same-named fields (OverlappingFieldsCanBeMergedRule): 600 repeats of one field
 *   take over a second to validate, 5 take nothing.
 * - cost (`operationCost`, with the request's variables): each field costs 1, times the
 *   number of items its arguments ask for; a list field's sub-selection is paid per item.
 *   Items are the largest of: `limit`, `first`, `last`, `top`, `k`, 2 x `radius` + 1, and the
 *   length of any list argument (`entities`, `events`; not `vector`, a query's numbers, not
 *   items asked for), defaults from the schema included. So
 *   `onlineFeatures(entities: [100 ids]) { entity values freshness }` costs 100 x 4 = 400 and
 *   `ingest(events: [10000]) { accepted rejected }` costs 10000 + 2.
 *
 * Fragment cycles and unknown fields are left to the standard validation: the walk only
 * makes sure it terminates on them.
 */
import {
  getNamedType,
  getNullableType,
  GraphQLError,
  isInterfaceType,
  isListType,
  isObjectType,
  Kind,
  valueFromASTUntyped,
  visit,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLField,
  type GraphQLNamedType,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from 'graphql';

export interface DocumentLimits {
  maxDepth: number;
  maxAliases: number;
  maxCost: number;
}

/** Times one selection set may select the same response name (see the header). */
export const MAX_FIELD_REPEATS = 5;
/** Nesting of list and object literals in an argument: events sent inline nest a few levels. */
export const MAX_VALUE_DEPTH = 32;

/** Arguments whose integer value is the number of items a field returns. */
const SIZE_ARGUMENTS = new Set(['limit', 'first', 'last', 'top', 'k']);
/** List arguments that are one value rather than items (similar's query vector). */
const VALUE_LISTS = new Set(['vector']);

/** Codes of the errors below, also the `reason` label of tally_requests_refused_total. */
export type LimitCode = 'too-deep' | 'too-many-aliases' | 'repeated-field' | 'too-costly';

/** True for graphql-js's parse error on `maxTokens` (16.x words it "more that N tokens"). */
export function isTokenLimitError(err: unknown): err is GraphQLError {
  return err instanceof GraphQLError && /contains more tha[nt] \d+ tokens/.test(err.message);
}

/** The token-limit parse error, with the code Tally gives it on both transports. */
export function tokenLimitError(err: GraphQLError): GraphQLError {
  return new GraphQLError(err.message, { extensions: { code: 'TOO_MANY_TOKENS', reason: 'too-many-tokens' } });
}

export function limitError(code: LimitCode, message: string): GraphQLError {
  return new GraphQLError(message, { extensions: { code: code.toUpperCase().replace(/-/g, '_'), reason: code } });
}

interface Shape {
  depth: number;
  aliases: number;
}

/** Depth, aliases and repeated fields of every operation (and fragment) of the document. */
export function checkStructure(document: DocumentNode, limits: Pick<DocumentLimits, 'maxDepth' | 'maxAliases'>): GraphQLError[] {
  const fragments = fragmentsOf(document);
  const errors: GraphQLError[] = [];
  const shapes = new Map<string, Shape>();
  const visiting = new Set<string>();

  const shapeOf = (set: SelectionSetNode): Shape => {
    let depth = 0;
    let aliases = 0;
    for (const sel of set.selections) {
      let inner: Shape;
      if (sel.kind === Kind.FIELD) {
        if (sel.alias) aliases++;
        inner = sel.selectionSet ? shapeOf(sel.selectionSet) : { depth: 0, aliases: 0 };
        inner = { depth: inner.depth + 1, aliases: inner.aliases };
      } else if (sel.kind === Kind.INLINE_FRAGMENT) inner = shapeOf(sel.selectionSet);
      else inner = fragmentShape(sel.name.value);
      depth = Math.max(depth, inner.depth);
      aliases += inner.aliases;
    }
    return { depth, aliases };
  };
  const fragmentShape = (name: string): Shape => {
    const known = shapes.get(name);
    if (known) return known;
    const def = fragments.get(name);
    if (def === undefined || visiting.has(name)) return { depth: 0, aliases: 0 };
    visiting.add(name);
    const shape = shapeOf(def.selectionSet);
    visiting.delete(name);
    shapes.set(name, shape);
    return shape;
  };

  for (const def of document.definitions) {
    if (def.kind !== Kind.OPERATION_DEFINITION) continue;
    const { depth, aliases } = shapeOf(def.selectionSet);
    const name = def.name ? `operation "${def.name.value}"` : 'the operation';
    if (depth > limits.maxDepth) errors.push(limitError('too-deep', `${name} nests fields ${depth} levels deep; at most ${limits.maxDepth}`));
    if (aliases > limits.maxAliases) errors.push(limitError('too-many-aliases', `${name} uses ${fmt(aliases)} aliases; at most ${limits.maxAliases}`));
  }
  const valueDepth = deepestValue(document);
  if (valueDepth > MAX_VALUE_DEPTH) errors.push(limitError('too-deep', `an argument value nests ${valueDepth} levels deep; at most ${MAX_VALUE_DEPTH}`));
  const repeated = repeatedField(document, fragments);
  if (repeated) errors.push(limitError('repeated-field', `field "${repeated.name}" is selected ${fmt(repeated.count)} times in one selection set; at most ${MAX_FIELD_REPEATS}`));
  return errors;
}

/** Deepest nesting of list and object literals anywhere in the document (1 for a scalar). */
function deepestValue(document: DocumentNode): number {
  let deepest = 0;
  let depth = 0;
  visit(document, {
    enter(node) {
      if (node.kind === Kind.LIST || node.kind === Kind.OBJECT) deepest = Math.max(deepest, ++depth + 1);
    },
    leave(node) {
      if (node.kind === Kind.LIST || node.kind === Kind.OBJECT) depth--;
    },
  });
  return deepest;
}

/** The first response name selected more than MAX_FIELD_REPEATS times in one selection set. */
function repeatedField(document: DocumentNode, fragments: Map<string, FragmentDefinitionNode>): { name: string; count: number } | undefined {
  const memo = new Map<string, Map<string, number>>();
  const visiting = new Set<string>();
  const countsOf = (set: SelectionSetNode, into: Map<string, number>, times: number): void => {
    for (const sel of set.selections) {
      if (sel.kind === Kind.FIELD) {
        const key = (sel.alias ?? sel.name).value;
        into.set(key, (into.get(key) ?? 0) + times);
      } else if (sel.kind === Kind.INLINE_FRAGMENT) countsOf(sel.selectionSet, into, times);
      else for (const [k, n] of fragmentCounts(sel.name.value)) into.set(k, (into.get(k) ?? 0) + n * times);
    }
  };
  const fragmentCounts = (name: string): Map<string, number> => {
    const known = memo.get(name);
    if (known) return known;
    const def = fragments.get(name);
    const counts = new Map<string, number>();
    if (def === undefined || visiting.has(name)) return counts;
    visiting.add(name);
    countsOf(def.selectionSet, counts, 1);
    visiting.delete(name);
    memo.set(name, counts);
    return counts;
  };
  const sets: SelectionSetNode[] = [];
  const collect = (set: SelectionSetNode): void => {
    sets.push(set);
    for (const sel of set.selections) if (sel.kind !== Kind.FRAGMENT_SPREAD && sel.selectionSet) collect(sel.selectionSet);
  };
  for (const def of document.definitions) {
    if (def.kind === Kind.OPERATION_DEFINITION || def.kind === Kind.FRAGMENT_DEFINITION) collect(def.selectionSet);
  }
  for (const set of sets) {
    const counts = new Map<string, number>();
    countsOf(set, counts, 1);
    for (const [name, count] of counts) if (count > MAX_FIELD_REPEATS) return { name, count };
  }
  return undefined;
}

/** Estimated cost of `operation` with `variables` (see the header); Infinity past any sane bound. */
export function operationCost(schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode, variables: Record<string, unknown> | undefined): number {
  const fragments = fragmentsOf(document);
  const memo = new Map<string, number>();
  const visiting = new Set<string>();
  const vars = variables ?? {};

  const setCost = (set: SelectionSetNode, parent: GraphQLNamedType | undefined): number => {
    let cost = 0;
    for (const sel of set.selections) {
      if (sel.kind === Kind.FIELD) cost += fieldCost(sel, parent);
      else if (sel.kind === Kind.INLINE_FRAGMENT) cost += setCost(sel.selectionSet, sel.typeCondition ? schema.getType(sel.typeCondition.name.value) : parent);
      else cost += fragmentCost(sel.name.value);
    }
    return cost;
  };
  const fragmentCost = (name: string): number => {
    const known = memo.get(name);
    if (known !== undefined) return known;
    const def = fragments.get(name);
    if (def === undefined || visiting.has(name)) return 0;
    visiting.add(name);
    const cost = setCost(def.selectionSet, schema.getType(def.typeCondition.name.value));
    visiting.delete(name);
    memo.set(name, cost);
    return cost;
  };
  const fieldCost = (node: FieldNode, parent: GraphQLNamedType | undefined): number => {
    const def = parent && (isObjectType(parent) || isInterfaceType(parent)) ? parent.getFields()[node.name.value] : undefined;
    const items = itemsAskedFor(node, def, vars);
    const inner = node.selectionSet ? setCost(node.selectionSet, def && getNamedType(def.type)) : 0;
    return def && isListType(getNullableType(def.type)) ? items * (1 + inner) : items + inner;
  };

  return setCost(operation.selectionSet, schema.getRootType(operation.operation) ?? undefined);
}

/** Items a field's arguments ask for (at least 1). */
function itemsAskedFor(node: FieldNode, def: GraphQLField<unknown, unknown> | undefined, variables: Record<string, unknown>): number {
  const args = new Map<string, unknown>();
  for (const a of def?.args ?? []) if (a.defaultValue !== undefined) args.set(a.name, a.defaultValue);
  for (const a of node.arguments ?? []) args.set(a.name.value, valueFromASTUntyped(a.value, variables));
  let items = 1;
  for (const [name, value] of args) {
    if (Array.isArray(value)) {
      if (!VALUE_LISTS.has(name)) items = Math.max(items, value.length);
    }
    else if (typeof value === 'number' && Number.isFinite(value)) {
      if (SIZE_ARGUMENTS.has(name)) items = Math.max(items, value);
      else if (name === 'radius') items = Math.max(items, 2 * value + 1);
    }
  }
  return items;
}

function fragmentsOf(document: DocumentNode): Map<string, FragmentDefinitionNode> {
  const out = new Map<string, FragmentDefinitionNode>();
  for (const def of document.definitions) if (def.kind === Kind.FRAGMENT_DEFINITION) out.set(def.name.value, def);
  return out;
}

const fmt = (n: number): string => (Number.isFinite(n) && n < 1e15 ? String(n) : 'more than 10^15');
