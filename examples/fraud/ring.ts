// Fraud rings: the cards whose behaviour embedding is nearest a suspicious card's, and their
// features, in one request (`similar` with a nested `features` field per hit).
//
//   npx tsx examples/fraud/ring.ts card-0007            (TALLY_URL, TALLY_API_KEY)
//   npx tsx examples/fraud/ring.ts card-0007 --k 5
//
// Blocked cards are left out (`where: "!blocked"`, over the view's other fields).
import { endpointFromEnv, graphql, isMain, type TallyEndpoint } from '../lib/tally-client.js';

/** What the ring check reads of each similar card. */
export const RING_FEATURES = ['card_txn_count:5m', 'card_merchants:1h', 'card_amount_sum:1h', 'card_profile:risk_tier'];

export interface RingMember {
  card: string;
  /** Cosine distance of the embeddings (0 = same direction). */
  distance: number;
  /** Values of RING_FEATURES, in that order. */
  values: unknown[];
}

const RING_QUERY = `query Ring($card: String!, $k: Int!, $features: [String!]!) {
  similar(view: "card_embedding", field: "embedding", k: $k, entity: $card, where: "!blocked") {
    entity
    distance
    features(names: $features) { values }
  }
}`;

/** The `k` unblocked cards most similar to `card`, nearest first, with their features. */
export async function findRing(endpoint: TallyEndpoint, card: string, k = 5): Promise<RingMember[]> {
  const data = await graphql<{ similar: { entity: string; distance: number; features: { values: unknown[] } }[] }>(endpoint, RING_QUERY, { card, k, features: RING_FEATURES });
  return data.similar.map((h) => ({ card: h.entity, distance: h.distance, values: h.features.values }));
}

async function main(argv: string[]): Promise<void> {
  const at = argv.indexOf('--k');
  const k = at >= 0 ? Number(argv[at + 1]) : 5;
  const card = argv.find((a, i) => !a.startsWith('--') && (at < 0 || i !== at + 1));
  if (card === undefined) throw new Error('usage: ring.ts CARD [--k N]');
  const ring = await findRing(endpointFromEnv(), card, k);
  console.log(`cards most like ${card} (cosine distance), with ${RING_FEATURES.join(', ')}:`);
  for (const m of ring) console.log(`${m.card}  ${m.distance.toFixed(4)}  ${m.values.map((v) => (v === null ? '-' : String(v))).join('  ')}`);
}

if (isMain(import.meta.url)) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`ring: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
