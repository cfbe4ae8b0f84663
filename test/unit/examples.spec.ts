// The examples under examples/ stay runnable: their pipeline files load, every feature name
// their clients and dashboard ask for exists, the dashboard operations are valid against
// schema.gql, and the clients' decision functions do what their headers say.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { buildSchema, Kind, parse, validate, visit, type ArgumentNode, type ValueNode } from 'graphql';
import { CAP_FEATURES, decide, PACING_FEATURES, userCampaignKey } from '../../examples/bidding/bid.js';
import { QUERIES_PATH } from '../../examples/dashboard/run.js';
import { loadModel, modelFeatures, scoreFeatures } from '../../examples/fraud/score.js';
import { FeatureStore, OnlineFeatures, ViewStore } from '../../src/features/index.js';
import { DEMO_PIPELINE_PATH, loadPipeline } from '../../src/pipeline/load.js';
import type { Pipeline } from '../../src/pipeline/pipeline.js';

const path = (p: string) => fileURLToPath(new URL(`../../${p}`, import.meta.url));
const online = (p: Pipeline) => new OnlineFeatures(new FeatureStore(p.features), new ViewStore(p.views));

describe('examples', () => {
  const demo = loadPipeline(DEMO_PIPELINE_PATH);
  const fraud = loadPipeline(path('examples/fraud/pipeline.yaml'));
  const bidding = loadPipeline(path('examples/bidding/pipeline.yaml'));

  describe('fraud', () => {
    const model = loadModel();

    it("reads only features that exist in the example's pipeline and in the demo pipeline", () => {
      expect(() => online(fraud).plan(modelFeatures(model))).not.toThrow();
      expect(() => online(demo).plan(modelFeatures(model))).not.toThrow();
    });

    it('asks for each feature once, in first-use order', () => {
      expect(modelFeatures({ bias: 0, terms: [{ feature: 'a:1h', weight: 1 }, { feature: 'b:1h', per: 'v:x', weight: 1 }, { feature: 'a:1h', transform: 'log1p', weight: 1 }] })).toEqual([
        'a:1h',
        'b:1h',
        'v:x',
      ]);
    });

    it('scores sigmoid(bias + sum of weight * x), nulls as 0, booleans as 0/1, ratios 0 when the divisor is missing', () => {
      const m = {
        bias: -2,
        terms: [
          { feature: 'n:5m', transform: 'log1p' as const, weight: 1 },
          { feature: 's:1h', per: 'p:limit', weight: 4 },
          { feature: 'p:blocked', weight: 3 },
        ],
      };
      const z = -2 + Math.log1p(3) + 4 * (250 / 1000) + 3 * 1;
      expect(scoreFeatures(m, { 'n:5m': 3, 's:1h': 250, 'p:limit': 1000, 'p:blocked': true }).score).toBeCloseTo(1 / (1 + Math.exp(-z)), 12);
      expect(scoreFeatures(m, { 'n:5m': 0, 's:1h': 250, 'p:limit': null, 'p:blocked': null })).toEqual({ score: 1 / (1 + Math.exp(2)), inputs: [0, 0, 0], contributions: [0, 0, 0] });
    });
  });

  describe('bidding', () => {
    it("reads only features that exist in the example's pipeline", () => {
      expect(() => online(bidding).plan([...CAP_FEATURES])).not.toThrow();
      expect(() => online(bidding).plan([...PACING_FEATURES])).not.toThrow();
    });

    it('joins user and campaign into one entity key, refusing the separator inside an id', () => {
      expect(userCampaignKey('u-17', 'c-2')).toBe('u-17|c-2');
      expect(() => userCampaignKey('u|17', 'c-2')).toThrow('may not contain "|"');
    });

    // pacing values: spend 1m, spend 1h, hourly_budget, cap_1h, cap_24h, active
    it.each([
      ['bids under every cap and budget', [1, 5], [0.5, 30, 60, 3, 10, true], { bid: true, budgetLeft: 0.5 }],
      ['stops at the hourly cap', [3, 5], [0.5, 20, 60, 3, 10, true], { bid: false, reason: 'frequency-cap-1h' }],
      ['stops at the daily cap', [0, 10], [0.5, 20, 60, 3, 10, true], { bid: false, reason: 'frequency-cap-24h' }],
      ['applies no cap that is not set', [50, 500], [0.5, 20, 60, null, null, true], { bid: true }],
      ['stops when the hour budget is spent', [0, 0], [0, 60, 60, 3, 10, true], { bid: false, reason: 'hourly-budget-spent', budgetLeft: 0 }],
      ['stops when the last minute spent twice the even share', [0, 0], [2, 30, 60, 3, 10, true], { bid: false, reason: 'pacing' }],
      ['bids just under the burst limit', [0, 0], [1.99, 30, 60, 3, 10, true], { bid: true }],
      ['refuses a paused campaign', [0, 0], [0, 0, 60, 3, 10, false], { bid: false, reason: 'inactive' }],
      ['refuses a campaign without settings', [null, null], [null, null, null, null, null, null], { bid: false, reason: 'unknown-campaign', budgetLeft: null }],
    ])('%s', (_what, caps, pacing, expected) => {
      expect(decide('c-1', caps, pacing)).toMatchObject({ campaign: 'c-1', ...expected });
    });
  });

  describe('dashboard', () => {
    const document = parse(readFileSync(QUERIES_PATH, 'utf8'));

    it('is valid against the committed schema', () => {
      const schema = buildSchema(readFileSync(path('schema.gql'), 'utf8'));
      expect(validate(schema, document).map((e) => e.message)).toEqual([]);
    });

    it('names only features, views, leaderboards and geo indexes of the demo pipeline', () => {
      const plan = online(demo);
      const problems: string[] = [];
      const str = (args: readonly ArgumentNode[], name: string): string | undefined => {
        const v = args.find((a) => a.name.value === name)?.value;
        return v?.kind === Kind.STRING ? v.value : undefined;
      };
      const list = (v: ValueNode | undefined): string[] => (v?.kind === Kind.LIST ? v.values.flatMap((x) => (x.kind === Kind.STRING ? [x.value] : [])) : []);
      let checked = 0;
      visit(document, {
        Field(node) {
          const args = node.arguments ?? [];
          const field = node.name.value;
          const check = (names: string[]) => {
            checked += names.length;
            try {
              plan.plan(names);
            } catch (err) {
              problems.push(`${field}: ${(err as Error).message}`);
            }
          };
          if (field === 'onlineFeatures') check(list(args.find((a) => a.name.value === 'features')?.value));
          else if (field === 'feature' || field === 'featureUpdated' || field === 'featureThreshold') check([`${str(args, 'name')}:${str(args, 'window')}`]);
          else if (field === 'featureVector' && !demo.views.some((v) => v.name === str(args, 'view'))) problems.push(`featureVector: no view ${str(args, 'view')}`);
          else if (field.startsWith('leaderboard') && !demo.leaderboards.some((l) => l.name === str(args, 'name'))) problems.push(`${field}: no leaderboard ${str(args, 'name')}`);
          else if ((field.startsWith('geo') || field === 'geofenceEvents') && !demo.geo.some((g) => g.name === str(args, 'index'))) problems.push(`${field}: no geo index ${str(args, 'index')}`);
        },
      });
      expect(problems).toEqual([]);
      expect(checked).toBeGreaterThan(10);
    });
  });
});
