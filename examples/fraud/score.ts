// Fraud scoring client: fetches the features of a list of cards from Tally in one
// `onlineFeatures` call and applies a logistic model whose weights come from weights.json.
//
//   npx tsx examples/fraud/score.ts card-0001 card-0002 ...      (TALLY_URL, TALLY_API_KEY)
//   npx tsx examples/fraud/score.ts --model my-weights.json card-0001
//   npx tsx examples/fraud/score.ts --model trained.json --amount 899 card-0007   (a model with request-time features, train.ts)
//
// The feature list is derived from the model, so adding a term to weights.json is all it takes
// to use another window or view field. The functions are exported for services and tests.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { endpointFromEnv, graphql, isMain, type TallyEndpoint } from '../lib/tally-client.js';

export const DEFAULT_MODEL_PATH = fileURLToPath(new URL('./weights.json', import.meta.url));

/** One additive term of the logistic model. */
export interface ModelTerm {
  /** An onlineFeatures name: `feature:window`, `view:field` or a request-time feature. */
  feature: string;
  /** Divide by this feature first (a ratio such as spend per credit limit); 0 when it is missing or 0. */
  per?: string;
  transform?: 'log1p';
  weight: number;
}

export interface FraudModel {
  bias: number;
  terms: ModelTerm[];
  /** Scores at or above this are flagged for review by the CLI (default 0.8). */
  threshold?: number;
}

export interface CardScore {
  card: string;
  /** Probability-like score in (0, 1). */
  score: number;
  /** The raw feature values by name, as Tally returned them. */
  features: Record<string, unknown>;
  /** Per term, in the order of the model's terms: x (after `per` and `transform`) and weight * x. */
  inputs: number[];
  contributions: number[];
}

/** Reads and checks a model file. */
export function loadModel(path: string = DEFAULT_MODEL_PATH): FraudModel {
  const model = JSON.parse(readFileSync(path, 'utf8')) as FraudModel;
  if (typeof model.bias !== 'number' || !Array.isArray(model.terms)) throw new Error(`${path}: expected { bias: number, terms: [...] }`);
  model.terms.forEach((t, i) => {
    if (typeof t.feature !== 'string' || typeof t.weight !== 'number') throw new Error(`${path}: terms[${i}] needs a feature name and a numeric weight`);
    if (t.transform !== undefined && t.transform !== 'log1p') throw new Error(`${path}: terms[${i}].transform must be "log1p"`);
  });
  return model;
}

/** The distinct feature names the model reads, in first-use order (the onlineFeatures request). */
export function modelFeatures(model: FraudModel): string[] {
  const names: string[] = [];
  for (const t of model.terms) for (const n of t.per ? [t.feature, t.per] : [t.feature]) if (!names.includes(n)) names.push(n);
  return names;
}

/** A feature value as a number: null/missing -> 0, booleans -> 0 or 1. */
function numeric(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'boolean') return v ? 1 : 0;
  return 0;
}

/** Scores one card from its features by name: sigmoid(bias + sum of weight * x). */
export function scoreFeatures(model: FraudModel, features: Record<string, unknown>): { score: number; inputs: number[]; contributions: number[] } {
  let z = model.bias;
  const inputs: number[] = [];
  const contributions: number[] = [];
  for (const t of model.terms) {
    let x = numeric(features[t.feature]);
    if (t.per !== undefined) {
      const d = numeric(features[t.per]);
      x = d === 0 ? 0 : x / d;
    }
    inputs.push(x);
    if (t.transform === 'log1p') x = Math.log1p(Math.max(0, x));
    const c = t.weight * x;
    contributions.push(c);
    z += c;
  }
  return { score: 1 / (1 + Math.exp(-z)), inputs, contributions };
}

interface OnlineFeaturesData {
  onlineFeatures: { entity: string; values: unknown[] }[];
}

/** Fetches the model's features for `cards` in one onlineFeatures call and scores each card. */
export async function scoreCards(endpoint: TallyEndpoint, cards: readonly string[], model: FraudModel, contexts?: readonly Record<string, unknown>[]): Promise<CardScore[]> {
  const names = modelFeatures(model);
  // `contexts` (one per card) carry the request's values for request-time features (amount_over_p95: the payment's amount).
  const data = await graphql<OnlineFeaturesData>(
    endpoint,
    'query Score($cards: [String!]!, $features: [String!]!, $context: [JSON]) { onlineFeatures(entities: $cards, features: $features, context: $context) { entity values } }',
    { cards, features: names, context: contexts ?? null },
  );
  return data.onlineFeatures.map((row) => {
    const features = Object.fromEntries(names.map((n, i) => [n, row.values[i]]));
    return { card: row.entity, features, ...scoreFeatures(model, features) };
  });
}

async function main(argv: string[]): Promise<void> {
  let modelPath: string | undefined;
  let amount: number | undefined;
  const cards: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--model') modelPath = argv[++i];
    else if (argv[i] === '--amount') amount = Number(argv[++i]);
    else cards.push(argv[i]);
  }
  if (cards.length === 0 || (amount !== undefined && !Number.isFinite(amount))) {
    process.stderr.write('usage: npx tsx examples/fraud/score.ts [--model weights.json] [--amount PAYMENT_AMOUNT] <card_id>...\n');
    process.exit(2);
  }
  const model = loadModel(modelPath);
  const threshold = model.threshold ?? 0.8;
  const scores = await scoreCards(endpointFromEnv(), cards, model, amount === undefined ? undefined : cards.map(() => ({ amount })));
  for (const s of scores) {
    // the two terms that pushed the score up most, to explain a flag
    const top = s.contributions
      .map((c, i) => ({ c, t: model.terms[i], x: s.inputs[i] }))
      .sort((a, b) => b.c - a.c)
      .slice(0, 2)
      .map(({ c, t, x }) => `${t.per ? `${t.feature}/${t.per}` : t.feature}=${fmt(x)} (+${c.toFixed(2)})`);
    console.log(`${s.card.padEnd(12)} ${s.score.toFixed(3)} ${s.score >= threshold ? 'REVIEW' : 'ok    '}  ${top.join('  ')}`);
  }
}

function fmt(x: number): string {
  return String(Math.round(x * 1000) / 1000);
}

if (isMain(import.meta.url)) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`score: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
