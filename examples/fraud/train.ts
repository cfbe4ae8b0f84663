// Trains the fraud model on a point-in-time training set: the rows `tally export` wrote for a
// spine of labelled payments (simulate.ts --labels), each with the card's features as of the
// payment. Fits a logistic regression (log1p of each numeric feature, class-balanced, L2) and
// writes it in weights.json's format, so score.ts serves exactly what was trained on.
//
//   npx tsx examples/fraud/simulate.ts --labels labels.csv
//   npx tally export --spine labels.csv --features card_txn_count:5m,...,amount_over_p95 --out train.csv --data-dir .data/fraud
//   npx tsx examples/fraud/train.ts train.csv > trained.json
//   npx tsx examples/fraud/score.ts --model trained.json --amount 899 card-0007
import { readFileSync } from 'node:fs';
import { parse } from 'csv-parse/sync';
import { isMain } from '../lib/tally-client.js';
import { scoreFeatures, type FraudModel } from './score.js';

/** Spine columns that are not features. */
const NOT_FEATURES = new Set(['entity', 'timestamp', 'amount', 'is_fraud']);

export interface TrainingRow {
  label: number;
  features: Record<string, unknown>;
}

/** Reads a training set CSV (tally export's output): the label column and every feature column. */
export function readTrainingCsv(text: string, label = 'is_fraud'): { names: string[]; rows: TrainingRow[] } {
  const records = parse(text, { columns: true, skip_empty_lines: true }) as Record<string, string>[];
  const names = records.length === 0 ? [] : Object.keys(records[0]).filter((c) => !NOT_FEATURES.has(c) && c !== label);
  const rows = records.map((r) => ({
    label: Number(r[label]),
    features: Object.fromEntries(names.map((n) => [n, cell(r[n])])),
  }));
  return { names, rows };
}

function cell(v: string | undefined): unknown {
  if (v === undefined || v === '') return null;
  if (v === 'true' || v === 'false') return v === 'true';
  const n = Number(v);
  return Number.isFinite(n) ? n : v;
}

/**
 * Fits sigmoid(bias + sum of w * log1p(x)) by gradient descent on the mean log loss with both
 * classes weighted equally and an L2 penalty; text features (a country) are left out.
 */
export function fitModel(names: readonly string[], rows: readonly TrainingRow[], opts: { iterations?: number; rate?: number; l2?: number } = {}): FraudModel {
  const numeric = names.filter((n) => rows.every((r) => r.features[n] === null || typeof r.features[n] !== 'string'));
  const terms = numeric.map((feature) => ({ feature, transform: 'log1p' as const, weight: 0 }));
  const model: FraudModel = { bias: 0, threshold: 0.5, terms };
  const positives = rows.filter((r) => r.label === 1).length;
  const negatives = rows.length - positives;
  if (positives === 0 || negatives === 0) throw new Error(`the training set needs both classes (${positives} positive, ${negatives} negative rows)`);
  const weightOf = (label: number) => (label === 1 ? rows.length / (2 * positives) : rows.length / (2 * negatives));
  const iterations = opts.iterations ?? 1_500;
  const rate = opts.rate ?? 0.5;
  const l2 = opts.l2 ?? 1e-3;
  // The inputs once (x = log1p(max(0, value)), as scoreFeatures takes them), then plain loops.
  const zero: FraudModel = { bias: 0, terms: terms.map((t) => ({ ...t, weight: 1 })) };
  const xs = rows.map((r) => scoreFeatures(zero, r.features).inputs.map((x) => Math.log1p(Math.max(0, x))));
  const ws = rows.map((r) => weightOf(r.label));
  const w = new Array<number>(terms.length).fill(0);
  let bias = 0;
  for (let it = 0; it < iterations; it++) {
    let gBias = 0;
    const g = new Array<number>(terms.length).fill(0);
    for (let i = 0; i < rows.length; i++) {
      const x = xs[i];
      let z = bias;
      for (let j = 0; j < x.length; j++) z += w[j] * x[j];
      const err = (1 / (1 + Math.exp(-z)) - rows[i].label) * ws[i];
      gBias += err;
      for (let j = 0; j < x.length; j++) g[j] += err * x[j];
    }
    bias -= (rate * gBias) / rows.length;
    for (let j = 0; j < w.length; j++) w[j] -= rate * (g[j] / rows.length + l2 * w[j]);
  }
  model.bias = bias;
  terms.forEach((t, j) => (t.weight = w[j]));
  return model;
}

function main(argv: string[]): void {
  const file = argv[0];
  if (file === undefined) {
    process.stderr.write('usage: npx tsx examples/fraud/train.ts train.csv > trained.json\n');
    process.exit(2);
  }
  const { names, rows } = readTrainingCsv(readFileSync(file, 'utf8'));
  const model = fitModel(names, rows);
  const flagged = rows.map((r) => ({ r, s: scoreFeatures(model, r.features).score }));
  const caught = flagged.filter((x) => x.r.label === 1 && x.s >= 0.5).length;
  const wrong = flagged.filter((x) => x.r.label === 0 && x.s >= 0.5).length;
  process.stderr.write(`trained on ${rows.length} rows x ${model.terms.length} features: ${caught}/${rows.filter((r) => r.label === 1).length} fraudulent payments flagged, ${wrong} ordinary ones\n`);
  process.stdout.write(`${JSON.stringify({ description: `Trained by examples/fraud/train.ts on ${file}`, ...model }, null, 2)}\n`);
}

if (isMain(import.meta.url)) main(process.argv.slice(2));
