// Sample traffic for the bidding example: five campaigns with budgets and caps, a day of
// impressions across 2,000 users, and a few situations the bidder must catch:
//   u-7 saw c-1 three times in the last hour (cap_1h 3)      -> frequency-cap-1h
//   u-8 saw c-2 eight times today (cap_24h 8)               -> frequency-cap-24h
//   c-3 spent its hourly budget in the last hour            -> hourly-budget-spent
//   c-4 spent fast in the last minute                       -> pacing
//   c-5 is paused                                           -> inactive
//
//   TALLY_PIPELINE=examples/bidding/pipeline.yaml npm start
//   npx tsx examples/bidding/simulate.ts                    # HTTP ingest, or Kafka with KAFKA_BROKERS
//   npx tsx examples/bidding/bid.ts u-7 c-1 c-2 c-3 c-4 c-5 c-9
import { endpointFromEnv, isMain, sendEvents } from '../lib/tally-client.js';
import { userCampaignKey } from './bid.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

export interface Impression extends Record<string, unknown> {
  user_id: string;
  campaign_id: string;
  user_campaign: string;
  price: number;
  ts: number;
}

export const CAMPAIGNS = [
  { campaign_id: 'c-1', hourly_budget: 40, cap_1h: 3, cap_24h: 10, active: true },
  { campaign_id: 'c-2', hourly_budget: 60, cap_1h: 4, cap_24h: 8, active: true },
  { campaign_id: 'c-3', hourly_budget: 5, cap_1h: 3, cap_24h: 10, active: true },
  { campaign_id: 'c-4', hourly_budget: 30, cap_1h: 3, cap_24h: 10, active: true },
  { campaign_id: 'c-5', hourly_budget: 25, cap_1h: 2, cap_24h: 6, active: false },
];

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

export function impression(user: string, campaign: string, price: number, ts: number): Impression {
  return { user_id: user, campaign_id: campaign, user_campaign: userCampaignKey(user, campaign), price, ts };
}

/** Campaign settings and a day of impressions ending at `now`, sorted by time. */
export function generateTraffic(now: number, seed = 3): { campaigns: Record<string, unknown>[]; impressions: Impression[] } {
  const rand = random(seed);
  const impressions: Impression[] = [];
  const price = () => Math.round((0.002 + rand() * 0.008) * 10_000) / 10_000; // 2-10 per mille
  // Background: ~12k impressions over the day for users u-100..u-2099 (u-7 and u-8 stay clean).
  for (let i = 0; i < 12_000; i++) {
    const user = `u-${100 + Math.floor(2000 * rand() ** 2)}`;
    const campaign = CAMPAIGNS[Math.floor(rand() * 4)].campaign_id;
    impressions.push(impression(user, campaign, price(), now - Math.floor(rand() * 24 * HOUR)));
  }
  for (let k = 0; k < 3; k++) impressions.push(impression('u-7', 'c-1', price(), now - (10 + 15 * k) * MINUTE));
  for (let k = 0; k < 8; k++) impressions.push(impression('u-8', 'c-2', price(), now - (2 + 2 * k) * HOUR));
  for (let k = 0; k < 50; k++) impressions.push(impression(`u-${3000 + k}`, 'c-3', 0.1, now - Math.floor(rand() * 50 * MINUTE)));
  for (let k = 0; k < 20; k++) impressions.push(impression(`u-${4000 + k}`, 'c-4', 0.05, now - Math.floor(rand() * 40_000)));
  impressions.sort((a, b) => a.ts - b.ts);
  return { campaigns: CAMPAIGNS.map((c) => ({ ...c, ts: now - 2 * HOUR })), impressions };
}

async function main(): Promise<void> {
  const endpoint = endpointFromEnv();
  const { campaigns, impressions } = generateTraffic(Date.now());
  console.log(await sendEvents(endpoint, 'campaign_updates', campaigns, 'campaign_id'));
  console.log(await sendEvents(endpoint, 'impressions', impressions, 'user_campaign'));
  console.log('\nnow: npx tsx examples/bidding/bid.ts u-7 c-1 c-2 c-3 c-4 c-5 c-9   (and u-8, u-150 ...)');
}

if (isMain(import.meta.url)) {
  main().catch((err: unknown) => {
    process.stderr.write(`simulate: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
