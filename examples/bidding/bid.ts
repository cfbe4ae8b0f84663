// Bidder-side client for the real-time bidding example: for one bid request (a user and the
// candidate campaigns), reads frequency caps and pacing from Tally in one GraphQL round trip
// (two aliased onlineFeatures fields) and says which campaigns may bid.
//
//   npx tsx examples/bidding/bid.ts u-7 c-1 c-2 c-3 c-4 c-5     (TALLY_URL, TALLY_API_KEY)
//
// Rules, all from the pipeline (examples/bidding/pipeline.yaml) and the `campaign` view:
// - a campaign must be known and active;
// - frequency caps: the user's impressions of this campaign in the last hour (day) must be
//   below cap_1h (cap_24h); a cap that is not set does not apply;
// - pacing: spend in the last hour must be below hourly_budget, and spend in the last minute
//   below BURST times an even share of it (hourly_budget / 60), so a budget is not spent in a
//   few seconds of heavy traffic.
import { endpointFromEnv, graphql, isMain, type TallyEndpoint } from '../lib/tally-client.js';

/** A campaign may spend up to this many times its even per-minute share in any one minute. */
export const BURST = 2;

/** The composite entity of a frequency cap: "<user_id>|<campaign_id>". */
export function userCampaignKey(user: string, campaign: string): string {
  if (user.includes('|') || campaign.includes('|')) throw new Error(`ids in a user_campaign key may not contain "|": ${user}, ${campaign}`);
  return `${user}|${campaign}`;
}

export const CAP_FEATURES = ['user_campaign_impressions:1h', 'user_campaign_impressions:24h'] as const;
export const PACING_FEATURES = ['campaign_spend:1m', 'campaign_spend:1h', 'campaign:hourly_budget', 'campaign:cap_1h', 'campaign:cap_24h', 'campaign:active'] as const;

export type Reason = 'unknown-campaign' | 'inactive' | 'frequency-cap-1h' | 'frequency-cap-24h' | 'hourly-budget-spent' | 'pacing';

export interface BidDecision {
  campaign: string;
  bid: boolean;
  /** Why not, when bid is false. */
  reason?: Reason;
  /** Share of the hourly budget left (0-1), for bid shading; null when the campaign is unknown. */
  budgetLeft: number | null;
  impressions: { '1h': number; '24h': number };
}

const num = (v: unknown): number | null => (typeof v === 'number' ? v : null);

/**
 * Decides one campaign from its feature values: `caps` in the order of CAP_FEATURES (for the
 * user and this campaign), `pacing` in the order of PACING_FEATURES (for the campaign).
 */
export function decide(campaign: string, caps: readonly unknown[], pacing: readonly unknown[]): BidDecision {
  const [n1h, n24h] = [num(caps[0]) ?? 0, num(caps[1]) ?? 0];
  const [spend1m, spend1h, budget, cap1h, cap24h, active] = [num(pacing[0]) ?? 0, num(pacing[1]) ?? 0, num(pacing[2]), num(pacing[3]), num(pacing[4]), pacing[5]];
  const impressions = { '1h': n1h, '24h': n24h };
  const budgetLeft = budget === null || budget <= 0 ? null : Math.max(0, 1 - spend1h / budget);
  const no = (reason: Reason): BidDecision => ({ campaign, bid: false, reason, budgetLeft, impressions });
  if (budget === null) return no('unknown-campaign');
  if (active !== true) return no('inactive');
  if (cap1h !== null && n1h >= cap1h) return no('frequency-cap-1h');
  if (cap24h !== null && n24h >= cap24h) return no('frequency-cap-24h');
  if (spend1h >= budget) return no('hourly-budget-spent');
  if (spend1m >= (BURST * budget) / 60) return no('pacing');
  return { campaign, bid: true, budgetLeft, impressions };
}

interface BidData {
  caps: { entity: string; values: unknown[] }[];
  pacing: { entity: string; values: unknown[] }[];
}

/** Reads caps and pacing for `user` x `campaigns` in one request and decides each campaign. */
export async function decideBids(endpoint: TallyEndpoint, user: string, campaigns: readonly string[]): Promise<BidDecision[]> {
  const data = await graphql<BidData>(
    endpoint,
    `query Bid($pairs: [String!]!, $campaigns: [String!]!, $capFeatures: [String!]!, $pacingFeatures: [String!]!) {
       caps: onlineFeatures(entities: $pairs, features: $capFeatures) { entity values }
       pacing: onlineFeatures(entities: $campaigns, features: $pacingFeatures) { entity values }
     }`,
    { pairs: campaigns.map((c) => userCampaignKey(user, c)), campaigns, capFeatures: CAP_FEATURES, pacingFeatures: PACING_FEATURES },
  );
  return campaigns.map((c, i) => decide(c, data.caps[i].values, data.pacing[i].values));
}

async function main(argv: string[]): Promise<void> {
  const [user, ...campaigns] = argv;
  if (!user || campaigns.length === 0) {
    process.stderr.write('usage: npx tsx examples/bidding/bid.ts <user_id> <campaign_id>...\n');
    process.exit(2);
  }
  for (const d of await decideBids(endpointFromEnv(), user, campaigns)) {
    const left = d.budgetLeft === null ? '—' : `${Math.round(d.budgetLeft * 100)} %`;
    console.log(`${d.campaign.padEnd(6)} ${d.bid ? 'BID   ' : 'no bid'} ${(d.reason ?? '').padEnd(20)} seen ${d.impressions['1h']}/1h ${d.impressions['24h']}/24h, budget left ${left}`);
  }
}

if (isMain(import.meta.url)) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`bid: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
