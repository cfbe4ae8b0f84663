/**
 * Loading the pipeline file: YAML or JSON text -> shape check (class-validator) -> semantic
 * checks (durations, references, duplicates) -> the normalised `Pipeline`. Every problem is
 * collected and reported with its path and the value found there
 * (`features[1].windows[0]: "5x" is not a duration`), so a user fixes a file in one round.
 * This is the only file that imports the YAML parser.
 */
import { compileExpression, EXPRESSION_TYPES, filterProblem, type ExpressionType } from './filter.js';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { plainToInstance } from 'class-transformer';
import { validateSync, type ValidationError } from 'class-validator';
import { parse as parseYaml } from 'yaml';
import { parseDuration, parseWindow } from './duration.js';
import { PipelineFile } from './pipeline-file.js';
import {
  AGGREGATIONS,
  DEFAULT_TOPK,
  fenceSourceName,
  VIEW_FIELD_TYPES,
  type Aggregation,
  type FeatureSpec,
  type FenceSpec,
  type GeoSpec,
  type LeaderboardMode,
  type LeaderboardPeriod,
  type LeaderboardSpec,
  type OnDemandSpec,
  type Pipeline,
  type SourceSpec,
  MAX_VECTOR_DIMS,
  VECTOR_METRICS,
  type VectorMetric,
  type ViewFieldSpec,
  type ViewFieldType,
  type ViewSpec,
} from './pipeline.js';

/** Allowed lateness when a source does not declare one. */
export const DEFAULT_LATENESS_MS = 60_000;

/** The demo pipeline shipped with Tally, used when `TALLY_PIPELINE` is not set. */
export const DEMO_PIPELINE_PATH = fileURLToPath(new URL('../../pipelines/demo.yaml', import.meta.url));

export class PipelineError extends Error {
  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    super(`${source}: ${problems.length} problem${problems.length === 1 ? '' : 's'} in the pipeline file:\n  - ${problems.join('\n  - ')}`);
    this.name = 'PipelineError';
  }
}

/** Reads and compiles a pipeline file; throws `PipelineError` listing every problem. */
export function loadPipeline(path: string = DEMO_PIPELINE_PATH): Pipeline {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new PipelineError(path, [`cannot read the file: ${(err as Error).message}`]);
  }
  return parsePipeline(text, path);
}

/** Parses YAML or JSON text (JSON is YAML) and compiles it; throws `PipelineError`. */
export function parsePipeline(text: string, source = 'pipeline'): Pipeline {
  let raw: unknown;
  try {
    raw = parseYaml(text, { prettyErrors: true, uniqueKeys: true });
  } catch (err) {
    throw new PipelineError(source, [`not valid YAML or JSON: ${(err as Error).message.split('\n')[0]}`]);
  }
  const result = compilePipeline(raw);
  if (!result.ok) throw new PipelineError(source, result.problems);
  return result.pipeline;
}

export type CompileResult = { ok: true; pipeline: Pipeline } | { ok: false; problems: string[] };

/** Validates a parsed document and compiles it; never throws. */
export function compilePipeline(raw: unknown): CompileResult {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    return { ok: false, problems: [`(root): ${quote(raw)} is not a mapping; the file must be a mapping with \`sources\` and at least one of features, views, leaderboards, geo`] };
  }
  const file = plainToInstance(PipelineFile, raw, { enableImplicitConversion: false });
  const errors = validateSync(file, { whitelist: true, forbidNonWhitelisted: true, forbidUnknownValues: false });
  const problems = errors.flatMap((e) => flatten(e, ''));
  // Semantic checks run on what is well-formed so that every problem is reported at once.
  const compiler = new Compiler(file, problems);
  const pipeline = compiler.compile();
  return problems.length > 0 ? { ok: false, problems: sortByPath(problems) } : { ok: true, pipeline };
}

/** Orders problems as they appear in the file: by section, then by numeric index. */
function sortByPath(problems: string[]): string[] {
  const collator = new Intl.Collator('en', { numeric: true });
  const order = ['(root)', 'sources', 'features', 'views', 'leaderboards', 'geo'];
  const section = (p: string) => {
    const i = order.findIndex((s) => p.startsWith(s));
    return i < 0 ? order.length : i;
  };
  return [...new Set(problems)].sort((a, b) => section(a) - section(b) || collator.compare(a.split(':')[0], b.split(':')[0]));
}

/** The longest quoted value in a message; longer ones are cut with an ellipsis. */
const QUOTE_MAX = 80;

/** A value as a problem quotes it: JSON (strings in double quotes), cut at QUOTE_MAX characters. */
export function quote(value: unknown): string {
  let text: string;
  try {
    text = value === undefined ? 'nothing' : (JSON.stringify(value) ?? String(value));
  } catch {
    text = String(value);
  }
  return text.length > QUOTE_MAX ? `${text.slice(0, QUOTE_MAX - 1)}\u2026` : text;
}

function flatten(error: ValidationError, parent: string): string[] {
  const key = /^\d+$/.test(error.property) ? `[${error.property}]` : parent ? `.${error.property}` : error.property;
  const path = parent + key;
  const constraints = { ...error.constraints };
  // "each value in nested property x must be either object or array": said better by the
  // list's own constraint (`"s" must be an array`), or for an entry, as "must be a mapping".
  if (constraints.nestedValidation !== undefined) {
    if (Object.keys(constraints).length > 1) delete constraints.nestedValidation;
    else constraints.nestedValidation = 'must be a mapping';
  }
  // Not a list at all: its length is beside the point.
  if (constraints.isArray !== undefined) delete constraints.arrayMinSize;
  const messages = Object.values(constraints);
  // A missing value breaks every constraint of its property; one line says it.
  const own = error.value === undefined && messages.length > 0
    ? [`${path}: is missing; ${describeConstraint(messages[messages.length - 1], error).replace(/^is missing; /, '')}`]
    : messages.map((m) => `${path}: ${describeConstraint(m, error)}`);
  const nested = (error.children ?? []).flatMap((c) => flatten(c, path));
  return [...own, ...nested];
}

function describeConstraint(message: string, error: ValidationError): string {
  // class-validator prefixes messages with the property name; the path already says it.
  const text = message.startsWith(`${error.property} `) ? message.slice(error.property.length + 1) : message;
  if (/^(property \S+ )?should not exist$/.test(text)) return `${quote(error.property)} is not a known setting`;
  return error.value === undefined ? text.replace(/^must be/, 'is missing; must be') : `${quote(error.value)} ${text}`;
}

const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const isStr = (v: unknown): v is string => typeof v === 'string';
const split = (path: string): string[] => path.split('.');

/**
 * The expression type of a served value `feature:window` or `view:field` of `p`, or undefined
 * when it names none, or names a value no expression takes (a topk window's list).
 */
export function servedType(p: Pipeline, ref: string): ExpressionType | undefined {
  const at = ref.lastIndexOf(':');
  if (at <= 0) return undefined;
  const owner = ref.slice(0, at);
  const part = ref.slice(at + 1);
  const feature = p.features.find((f) => f.name === owner);
  if (feature) return feature.aggregation !== 'topk' && feature.windows.some((w) => w.label === part) ? 'double' : undefined;
  const field = p.views.find((v) => v.name === owner)?.fields.find((f) => f.name === part);
  if (field === undefined || field.type === 'float[]' || field.type === 'vector') return undefined;
  return field.type === 'string' ? 'string' : field.type === 'boolean' ? 'bool' : 'double';
}

/** `entity` (and `composite` for a list of paths) of a feature or view entry. */
function entityOf(entity: unknown): { entity: string[]; composite?: string[][] } {
  if (Array.isArray(entity) && entity.every(isStr)) {
    const composite = entity.map(split);
    return { entity: composite[0] ?? [], composite };
  }
  return { entity: isStr(entity) ? split(entity) : [] };
}

class Compiler {
  private readonly sourceNames = new Set<string>();

  constructor(
    private readonly file: PipelineFile,
    private readonly problems: string[],
  ) {}

  compile(): Pipeline {
    const sources = this.sources();
    const geo = this.geo();
    for (const g of geo) this.sourceNames.add(fenceSourceName(g.name));
    const p: Pipeline = { sources, features: this.features(), views: this.views(), leaderboards: this.leaderboards(), geo };
    // Fence events of each geo index form a source of their own (see API.md).
    for (const g of geo) sources.push({ name: fenceSourceName(g.name), topic: fenceSourceName(g.name), timestamp: ['ts'], latenessMs: DEFAULT_LATENESS_MS, derivedFrom: { geo: g.name } });
    if (p.features.length + p.views.length + p.leaderboards.length + p.geo.length === 0 && this.problems.length === 0) {
      this.problems.push('(root): declares nothing to compute; add features, views, leaderboards or geo');
    }
    this.checkGlobalNames(p);
    const onDemand = this.onDemand(p);
    if (onDemand.length > 0) p.onDemand = onDemand;
    return p;
  }

  /**
   * The `on_demand:` section: each input must name a served value (`feature:window` of a
   * declared window, `view:field` of a declared field), each request variable a type, and the
   * expression must check over exactly those variables.
   */
  private onDemand(p: Pipeline): OnDemandSpec[] {
    const entries = this.list(this.file.on_demand);
    this.duplicates('on_demand', entries.map((o) => o?.name));
    const taken = new Set([...p.features.map((f) => f.name), ...p.views.map((v) => v.name)]);
    return entries.flatMap((o, i) => {
      const at = `on_demand[${i}]`;
      if (isStr(o.name) && taken.has(o.name)) this.problem(`${at}.name`, `${quote(o.name)} is already a feature or view name`);
      const before = this.problems.length;
      const inputs = Object.entries(isObj(o.inputs) ? o.inputs : {}).map(([name, ref]) => {
        const topk = isStr(ref) && p.features.some((f) => f.aggregation === 'topk' && f.name === ref.slice(0, ref.lastIndexOf(':')));
        if (topk) this.problem(`${at}.inputs.${name}`, `${quote(ref)} is a topk feature, whose value is a list of items; inputs are numbers, strings or bools`);
        else if (!isStr(ref) || servedType(p, ref) === undefined) this.problem(`${at}.inputs.${name}`, `${quote(ref)} is not a served value (write feature:window or view:field of this pipeline)`);
        return { name, ref: String(ref) };
      });
      const request = Object.entries(isObj(o.request) ? o.request : {}).map(([name, type]) => {
        if (!EXPRESSION_TYPES.includes(type as ExpressionType)) this.problem(`${at}.request.${name}`, `${quote(type)} is not a type (${EXPRESSION_TYPES.join(', ')})`);
        if (inputs.some((x) => x.name === name)) this.problem(`${at}.request.${name}`, `"${name}" is also an input`);
        return { name, type: type as ExpressionType };
      });
      if (this.problems.length > before || !isStr(o.expression)) return [];
      const variables: Record<string, ExpressionType> = {};
      for (const x of inputs) variables[x.name] = servedType(p, x.ref)!;
      for (const r of request) variables[r.name] = r.type;
      const compiled = compileExpression(o.expression, variables);
      if ('problem' in compiled) {
        this.problem(`${at}.expression`, `${quote(o.expression)} is not a valid expression: ${compiled.problem}`);
        return [];
      }
      return [{ name: o.name, inputs, request, expression: o.expression }];
    });
  }

  private problem(path: string, message: string): void {
    this.problems.push(`${path}: ${message}`);
  }

  private list<T>(items: T[] | undefined): T[] {
    return Array.isArray(items) ? items : [];
  }

  private duplicates(kind: string, names: unknown[]): void {
    const seen = new Map<string, number>();
    names.forEach((name, i) => {
      if (!isStr(name)) return;
      const first = seen.get(name);
      if (first !== undefined) this.problem(`${kind}[${i}].name`, `duplicate name "${name}" (also ${kind}[${first}])`);
      else seen.set(name, i);
    });
  }

  private checkSource(path: string, source: unknown): void {
    if (isStr(source) && !this.sourceNames.has(source)) {
      const known = [...this.sourceNames].join(', ') || 'none';
      this.problem(path, `unknown source "${source}" (declared: ${known})`);
    }
  }

  private optionalDuration(path: string, text: unknown): number | undefined {
    if (text === undefined || !isStr(text)) return undefined;
    const ms = parseDuration(text);
    if (ms === undefined) this.problem(path, `"${text}" is not a duration (e.g. 30s, 5m, 1h, 7d)`);
    return ms;
  }

  private sources(): SourceSpec[] {
    const entries = this.list(this.file.sources);
    this.duplicates('sources', entries.map((s) => s?.name));
    const topics = new Map<string, number>();
    return entries.map((s, i) => {
      if (isStr(s.name)) this.sourceNames.add(s.name);
      const topic = isStr(s.topic) ? s.topic : s.name;
      if (isStr(topic)) {
        const other = topics.get(topic);
        if (other !== undefined) this.problem(`sources[${i}].topic`, `topic "${topic}" is already read by sources[${other}]`);
        else topics.set(topic, i);
      }
      const latenessMs = s.lateness === undefined ? DEFAULT_LATENESS_MS : (this.optionalDuration(`sources[${i}].lateness`, s.lateness) ?? 0);
      return { name: s.name, topic, timestamp: isStr(s.timestamp) ? split(s.timestamp) : undefined, latenessMs, ...(isStr(s.key) ? { key: split(s.key) } : {}) };
    });
  }

  private features(): FeatureSpec[] {
    const entries = this.list(this.file.features);
    this.duplicates('features', entries.map((f) => f?.name));
    return entries.map((f, i) => {
      const at = `features[${i}]`;
      this.checkSource(`${at}.source`, f.source);
      const aggregation = f.aggregation as Aggregation;
      if (aggregation !== 'count' && f.field === undefined && AGGREGATIONS.includes(aggregation)) {
        this.problem(`${at}.field`, aggregation === 'topk' ? 'is missing; "topk" counts the values of a field (the items, e.g. field: merchant_id)' : `is missing; "${aggregation}" aggregates a field`);
      }
      if (aggregation !== 'topk' && AGGREGATIONS.includes(aggregation)) {
        if (f.k !== undefined) this.problem(`${at}.k`, `${quote(f.k)} given, but k only applies to the topk aggregation, not "${aggregation}"`);
        if (f.weight !== undefined) this.problem(`${at}.weight`, `${quote(f.weight)} given, but a weight field only applies to the topk aggregation, not "${aggregation}"`);
      }
      if (aggregation === 'topk' && isStr(f.weight) && f.weight === f.field) this.problem(`${at}.weight`, `${quote(f.weight)} is also the item field; the weight must be another (numeric) field`);
      if (aggregation === 'quantile' && f.quantile === undefined) this.problem(`${at}.quantile`, 'is missing; a quantile feature needs a rank such as 0.95');
      if (aggregation !== 'quantile' && f.quantile !== undefined && AGGREGATIONS.includes(aggregation)) this.problem(`${at}.quantile`, `${quote(f.quantile)} given, but a rank only applies to the quantile aggregation, not "${aggregation}"`);
      const seen = new Set<string>();
      const windows = this.list(f.windows).flatMap((w, j) => {
        const ms = parseWindow(w);
        if (ms === undefined) {
          this.problem(`${at}.windows[${j}]`, `${JSON.stringify(w)} is not a duration (e.g. 30s, 5m, 1h, 7d or lifetime)`);
          return [];
        }
        const label = String(w);
        if (seen.has(label)) this.problem(`${at}.windows[${j}]`, `duplicate window "${label}"`);
        seen.add(label);
        return [{ label, ms }];
      });
      const historyMs = this.optionalDuration(`${at}.history`, f.history);
      if (historyMs !== undefined && windows.some((w) => !Number.isFinite(w.ms))) {
        this.problem(`${at}.history`, `${quote(f.history)} given, but a lifetime window would keep every event for at: reads; drop the lifetime window or history:`);
      }
      return {
        name: f.name,
        source: f.source,
        ...entityOf(f.entity),
        aggregation,
        field: isStr(f.field) ? split(f.field) : undefined,
        quantile: f.quantile,
        ...(aggregation === 'topk' ? { k: f.k ?? DEFAULT_TOPK, ...(isStr(f.weight) ? { weight: split(f.weight) } : {}) } : {}),
        windows,
        historyMs,
        where: this.where(at, f.where),
      };
    });
  }

  private views(): ViewSpec[] {
    const entries = this.list(this.file.views);
    this.duplicates('views', entries.map((v) => v?.name));
    return entries.map((v, i) => {
      const at = `views[${i}]`;
      this.checkSource(`${at}.source`, v.source);
      const fields: ViewSpec['fields'] = [];
      if (isObj(v.fields)) {
        if (Object.keys(v.fields).length === 0) this.problem(`${at}.fields`, '{} declares no field; name at least one with its type');
        for (const [name, type] of Object.entries(v.fields)) {
          const field = this.viewField(`${at}.fields.${name}`, name, type);
          if (field) fields.push(field);
        }
      }
      return { name: v.name, source: v.source, ...entityOf(v.entity), fields, ttlMs: this.optionalDuration(`${at}.ttl`, v.ttl), historyMs: this.optionalDuration(`${at}.history`, v.history), where: this.where(at, v.where) };
    });
  }

  /**
   * One view field: `name: TYPE`, or `name: { type: TYPE, metric: M }` (a metric only for
   * `vector(N)`, whose N is 1 to MAX_VECTOR_DIMS; cosine unless given).
   */
  private viewField(at: string, name: string, written: unknown): ViewFieldSpec | undefined {
    let type = written;
    let metric: unknown;
    if (isObj(written)) {
      for (const key of Object.keys(written)) if (key !== 'type' && key !== 'metric') this.problem(`${at}.${key}`, `${quote(key)} is not a known setting (type, metric)`);
      type = written.type;
      metric = written.metric;
      if (type === undefined) {
        this.problem(`${at}.type`, 'is missing; name the field type');
        return undefined;
      }
    }
    const vector = isStr(type) ? /^vector\(\s*(\d+)\s*\)$/.exec(type) : null;
    if (vector) {
      const dims = Number(vector[1]);
      let ok = true;
      if (dims < 1 || dims > MAX_VECTOR_DIMS) {
        this.problem(isObj(written) ? `${at}.type` : at, `${quote(type)} declares ${dims} numbers; a vector has 1 to ${MAX_VECTOR_DIMS}`);
        ok = false;
      }
      if (metric !== undefined && !VECTOR_METRICS.includes(metric as VectorMetric)) {
        this.problem(`${at}.metric`, `${quote(metric)} is not a metric (${VECTOR_METRICS.join(', ')})`);
        ok = false;
      }
      return ok ? { name, type: 'vector', dims, metric: (metric ?? 'cosine') as VectorMetric } : undefined;
    }
    if (!VIEW_FIELD_TYPES.includes(type as ViewFieldType)) {
      this.problem(isObj(written) ? `${at}.type` : at, `${quote(type)} is not a field type (${VIEW_FIELD_TYPES.join(', ')}, vector(N))`);
      return undefined;
    }
    if (metric !== undefined) {
      this.problem(`${at}.metric`, `${quote(metric)} given, but a metric only applies to vector(N) fields, not "${String(type)}"`);
      return undefined;
    }
    return { name, type: type as ViewFieldType };
  }

  private leaderboards(): LeaderboardSpec[] {
    const entries = this.list(this.file.leaderboards);
    this.duplicates('leaderboards', entries.map((l) => l?.name));
    return entries.map((l, i) => {
      const at = `leaderboards[${i}]`;
      this.checkSource(`${at}.source`, l.source);
      return {
        name: l.name,
        source: l.source,
        member: isStr(l.member) ? split(l.member) : [],
        score: isStr(l.score) ? split(l.score) : [],
        mode: (l.mode ?? 'incr') as LeaderboardMode,
        period: (l.period ?? 'all') as LeaderboardPeriod,
        keep: l.keep ?? 1,
        ttlMs: this.optionalDuration(`${at}.ttl`, l.ttl),
        ties: (l.ties ?? 'redis') as 'redis' | 'first',
        where: this.where(at, l.where),
      };
    });
  }

  /** A `where:` condition, checked (filter.ts); undefined when absent or refused. */
  private where(at: string, expression: unknown): string | undefined {
    if (!isStr(expression)) return undefined;
    const problem = filterProblem(expression);
    if (problem === undefined) return expression;
    this.problem(`${at}.where`, `${quote(expression)} is not a valid condition: ${problem}`);
    return undefined;
  }

  private geo(): GeoSpec[] {
    const entries = this.list(this.file.geo);
    this.duplicates('geo', entries.map((g) => g?.name));
    return entries.map((g, i) => {
      const at = `geo[${i}]`;
      this.checkSource(`${at}.source`, g.source);
      const fences = this.list(g.fences);
      this.duplicates(`${at}.fences`, fences.map((f) => f?.name));
      return {
        name: g.name,
        source: g.source,
        member: isStr(g.member) ? split(g.member) : [],
        lat: isStr(g.lat) ? split(g.lat) : [],
        lon: isStr(g.lon) ? split(g.lon) : [],
        ttlMs: this.optionalDuration(`${at}.ttl`, g.ttl),
        fences: fences.flatMap((f, j) => this.fence(`${at}.fences[${j}]`, f)),
      };
    });
  }

  private fence(at: string, f: { name: string; circle?: { lat: number; lon: number; radiusMeters: number }; polygon?: unknown[] }): FenceSpec[] {
    if ((f.circle === undefined) === (f.polygon === undefined)) {
      this.problem(at, `fence ${quote(f.name)} has ${f.circle === undefined ? 'neither circle nor polygon' : 'both circle and polygon'}; it needs exactly one`);
      return [];
    }
    if (f.circle) return [{ name: f.name, circle: { ...f.circle } }];
    const points: [number, number][] = [];
    (f.polygon ?? []).forEach((p, k) => {
      const ok = Array.isArray(p) && p.length === 2 && p.every((x) => typeof x === 'number' && Number.isFinite(x));
      if (!ok) this.problem(`${at}.polygon[${k}]`, `${JSON.stringify(p)} is not a [lat, lon] pair`);
      else if (Math.abs(p[0]) > 85.05112878 || Math.abs(p[1]) > 180) this.problem(`${at}.polygon[${k}]`, `${JSON.stringify(p)} is outside lat +/-85.05112878, lon +/-180`);
      else points.push([p[0], p[1]]);
    });
    if (Array.isArray(f.polygon) && f.polygon.length < 3) this.problem(`${at}.polygon`, `${quote(f.polygon)} has ${f.polygon.length} point${f.polygon.length === 1 ? '' : 's'}; a polygon needs at least 3`);
    return [{ name: f.name, polygon: points }];
  }

  /** `onlineFeatures` names features as `feature:window` and `view:field`, so the two share one namespace. */
  private checkGlobalNames(p: Pipeline): void {
    const owner = new Map<string, string>();
    const claim = (name: string, where: string) => {
      if (!isStr(name)) return;
      const other = owner.get(name);
      // Duplicates within one section are reported by duplicates().
      if (other && other.split('[')[0] !== where.split('[')[0]) this.problem(where, `name "${name}" is already used by ${other}`);
      else if (!other) owner.set(name, where);
    };
    p.features.forEach((f, i) => claim(f.name, `features[${i}].name`));
    p.views.forEach((v, i) => claim(v.name, `views[${i}].name`));
  }
}
