// Sample traffic for the fraud example: 500 card profiles, a day of ordinary payments, and
// three cards under a card-testing attack (many small payments at many merchants in the last
// minutes, then large ones). Sends over HTTP ingest, or to Kafka when KAFKA_BROKERS is set.
//
//   TALLY_PIPELINE=examples/fraud/pipeline.yaml npm start   # embedded mode, no demo events
//   npx tsx examples/fraud/simulate.ts          # TALLY_URL, TALLY_API_KEY as in lib/tally-client.ts
//   npx tsx examples/fraud/simulate.ts --labels labels.csv   # also write the payments' labels (train.ts)
//   npx tsx examples/fraud/score.ts card-0001 card-0007 card-0042 card-0099 card-0123
//
// Transactions go out oldest first: a source refuses events older than its newest one minus
// its lateness (30 s here), so a second run's history is refused as `late` and only its
// attack (stamped now) counts again.
import { writeFileSync } from 'node:fs';
import { endpointFromEnv, isMain, sendEvents } from '../lib/tally-client.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const CARDS = 500;
const MERCHANTS = 300;
export const ATTACKED_CARDS = ['card-0007', 'card-0042', 'card-0123'];
export const BLOCKED_CARD = 'card-0099';

export interface Transaction extends Record<string, unknown> {
  card_id: string;
  merchant_id: string;
  amount: number;
  ts: number;
}

export interface CardUpdate extends Record<string, unknown> {
  card_id: string;
  ts: number;
}

/** Seeded PRNG (mulberry32): the same traffic on every run. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const cardId = (i: number): string => `card-${String(i).padStart(4, '0')}`;

/** Dimensions of the cards' behaviour embeddings (the pipeline's `vector(8)`). */
export const EMBEDDING_DIMS = 8;

/**
 * Behaviour embeddings: random directions, except that the attacked cards, bought from one
 * breach and used by one ring, sit close together. From a PRNG of their own, so the rest of the
 * traffic is the same with or without them.
 */
function embeddings(seed: number): Map<string, number[]> {
  const rand = random(seed + 1);
  const round = (x: number) => Math.round(x * 1000) / 1000;
  const ring = Array.from({ length: EMBEDDING_DIMS }, () => rand() * 2 - 1);
  const out = new Map<string, number[]>();
  for (let i = 1; i <= CARDS; i++) {
    const id = cardId(i);
    out.set(id, ATTACKED_CARDS.includes(id) ? ring.map((x) => round(x + (rand() - 0.5) * 0.1)) : Array.from({ length: EMBEDDING_DIMS }, () => round(rand() * 2 - 1)));
  }
  return out;
}

/** Profiles and a day of transactions ending at `now`, transactions sorted by time. */
export function generateTraffic(now: number, seed = 7): { updates: CardUpdate[]; transactions: Transaction[] } {
  const rand = random(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
  const embedding = embeddings(seed);
  const updates: CardUpdate[] = [];
  for (let i = 1; i <= CARDS; i++) {
    updates.push({
      card_id: cardId(i),
      credit_limit: pick([1000, 2500, 5000, 10000]),
      country: pick(['US', 'FR', 'DE', 'BR', 'JP']),
      risk_tier: Math.floor(rand() * 3),
      blocked: cardId(i) === BLOCKED_CARD,
      embedding: embedding.get(cardId(i)),
      ts: now - 2 * HOUR,
    });
  }
  const transactions: Transaction[] = [];
  for (let i = 1; i <= CARDS; i++) {
    const n = Math.floor(rand() * 12); // 0-11 payments a day
    for (let k = 0; k < n; k++) {
      // log-normal-ish amounts around 40
      const amount = Math.round(Math.exp(Math.log(40) + (rand() + rand() + rand() - 1.5) * 1.6) * 100) / 100;
      // merchants are Zipf-like: a few are visited by many cards
      const merchant = Math.floor(MERCHANTS * rand() ** 2);
      transactions.push({ card_id: cardId(i), merchant_id: `m-${merchant}`, amount, ts: now - Math.floor(rand() * 24 * HOUR) });
    }
  }
  for (const card of ATTACKED_CARDS) {
    for (let k = 0; k < 15; k++) {
      transactions.push({ card_id: card, merchant_id: `m-web-${Math.floor(rand() * 40)}`, amount: 1 + Math.floor(rand() * 400) / 100, ts: now - Math.floor(rand() * 4 * MINUTE) });
    }
    transactions.push({ card_id: card, merchant_id: 'm-electronics-1', amount: 899, ts: now - 20_000 });
    transactions.push({ card_id: card, merchant_id: 'm-electronics-2', amount: 1249, ts: now - 10_000 });
  }
  transactions.sort((a, b) => a.ts - b.ts);
  return { updates, transactions };
}

/** How far back from `now` the attack's payments go (generateTraffic). */
const ATTACK_MS = 5 * MINUTE;

/**
 * The labels of a training set, as a spine: one row per payment (the card, the moment it was
 * authorised, its amount for the request-time feature) with is_fraud = 1 for the attack's
 * payments. `tally export` fills in the features as of each payment.
 */
export function labelRows(transactions: readonly Transaction[], now: number): { entity: string; timestamp: string; amount: number; is_fraud: number }[] {
  return transactions.map((t) => ({
    entity: t.card_id,
    timestamp: new Date(t.ts).toISOString(),
    amount: t.amount,
    is_fraud: ATTACKED_CARDS.includes(t.card_id) && t.ts >= now - ATTACK_MS ? 1 : 0,
  }));
}

/** The spine as CSV text. */
export function labelsCsv(rows: ReturnType<typeof labelRows>): string {
  return `entity,timestamp,amount,is_fraud\n${rows.map((r) => `${r.entity},${r.timestamp},${r.amount},${r.is_fraud}`).join('\n')}\n`;
}

async function main(argv: string[]): Promise<void> {
  const labels = argv[0] === '--labels' ? argv[1] : undefined;
  const endpoint = endpointFromEnv();
  const now = Date.now();
  const { updates, transactions } = generateTraffic(now);
  console.log(await sendEvents(endpoint, 'card_updates', updates, 'card_id'));
  console.log(await sendEvents(endpoint, 'transactions', transactions, 'card_id'));
  if (labels !== undefined) {
    writeFileSync(labels, labelsCsv(labelRows(transactions, now)));
    console.log(`wrote the labels of ${transactions.length} payments to ${labels} (a spine for tally export)`);
  }
  console.log(`\nnow: npx tsx examples/fraud/score.ts card-0001 card-0002 ${ATTACKED_CARDS.join(' ')} ${BLOCKED_CARD} no-such-card`);
  console.log(`and: npx tsx examples/fraud/ring.ts ${ATTACKED_CARDS[0]}`);
}

if (isMain(import.meta.url)) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`simulate: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
