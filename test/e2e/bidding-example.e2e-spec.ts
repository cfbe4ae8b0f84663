// The bidding example's pipeline as a user runs it: impressions carry user_id and campaign_id,
// the frequency cap is keyed by both (entity: [user_id, campaign_id]), and a bidder reads it
// with the documented query form of a composite key, "<user_id>|<campaign_id>".
import { readFileSync } from 'node:fs';
import { userCampaignKey } from '../../examples/bidding/bid.js';
import { gqlData, startTally, type RunningTally } from '../support/app.js';

describe('the bidding example pipeline', () => {
  let tally: RunningTally;
  beforeAll(async () => {
    tally = await startTally(readFileSync('examples/bidding/pipeline.yaml', 'utf8'));
  });
  afterAll(() => tally?.close());

  it('counts impressions per (user, campaign) under the composite key a query writes as user|campaign', async () => {
    const now = Date.now();
    const events = [
      { user_id: 'u-17', campaign_id: 'c-2', price: 0.5, ts: now - 3000 },
      { user_id: 'u-17', campaign_id: 'c-2', price: 0.5, ts: now - 2000 },
      { user_id: 'u-17', campaign_id: 'c-3', price: 0.5, ts: now - 1000 },
      { user_id: 'u|x', campaign_id: 'c-2', price: 0.5, ts: now },
    ];
    const res = await fetch(`${tally.url}/ingest/impressions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(events) });
    expect(await res.json()).toMatchObject({ accepted: 3, rejected: 1, errors: [{ index: 3, message: expect.stringMatching(/^invalid-value: entity field "user_id" holds "\|"/) }] });
    const r = await gqlData<{ onlineFeatures: { entity: string; values: number[] }[] }>(
      tally.url,
      'query($e: [String!]!) { onlineFeatures(entities: $e, features: ["user_campaign_impressions:1h"]) { entity values } }',
      { e: [userCampaignKey('u-17', 'c-2'), userCampaignKey('u-17', 'c-3'), 'u-17|c-9'] },
    );
    expect(r.onlineFeatures).toEqual([
      { entity: 'u-17|c-2', values: [2] },
      { entity: 'u-17|c-3', values: [1] },
      { entity: 'u-17|c-9', values: [0] },
    ]);
  });
});
