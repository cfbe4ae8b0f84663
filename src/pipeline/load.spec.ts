import { readFileSync } from 'node:fs';
import { DEMO_PIPELINE_PATH, DEFAULT_LATENESS_MS, loadPipeline, parsePipeline, PipelineError } from './load.js';

function problemsOf(text: string): string[] {
  try {
    parsePipeline(text);
  } catch (err) {
    if (err instanceof PipelineError) return err.problems;
    throw err;
  }
  throw new Error('expected the pipeline to be refused');
}

const VALID = `
sources:
  - name: transactions
    timestamp: ts
    lateness: 30s
  - name: game_scores
    topic: scores-v2
features:
  - name: card_txn_count
    source: transactions
    entity: card.id
    aggregation: count
    windows: [1m, 1h, lifetime]
  - name: card_amount_p95
    source: transactions
    entity: card.id
    aggregation: quantile
    field: amount
    quantile: 0.95
    windows: [1h]
views:
  - name: card_profile
    source: transactions
    entity: card.id
    fields: { credit_limit: float, tier: int, country: string, blocked: boolean, embedding: "float[]" }
    ttl: 30d
leaderboards:
  - name: top_players
    source: game_scores
    member: player_id
    score: points
    mode: max
    period: day
geo:
  - name: drivers
    source: transactions
    member: driver_id
    lat: lat
    lon: lon
    ttl: 10m
    fences:
      - { name: airport, circle: { lat: 40.6413, lon: -73.7781, radiusMeters: 2000 } }
      - { name: downtown, polygon: [[40.70, -74.02], [40.70, -73.97], [40.75, -73.97]] }
`;

describe('parsePipeline', () => {
  it('compiles a valid file into normalised definitions', () => {
    const p = parsePipeline(VALID);
    expect(p.sources.map((s) => [s.name, s.topic, s.latenessMs])).toEqual([
      ['transactions', 'transactions', 30_000],
      ['game_scores', 'scores-v2', DEFAULT_LATENESS_MS],
      ['drivers.fences', 'drivers.fences', DEFAULT_LATENESS_MS],
    ]);
    expect(p.features[0]).toMatchObject({ name: 'card_txn_count', entity: ['card', 'id'], aggregation: 'count' });
    expect(p.features[0].windows).toEqual([
      { label: '1m', ms: 60_000 },
      { label: '1h', ms: 3_600_000 },
      { label: 'lifetime', ms: Number.POSITIVE_INFINITY },
    ]);
    expect(p.features[1]).toMatchObject({ field: ['amount'], quantile: 0.95 });
    expect(p.views[0].fields).toContainEqual({ name: 'embedding', type: 'float[]' });
    expect(p.views[0].ttlMs).toBe(30 * 86_400_000);
    expect(p.leaderboards[0]).toMatchObject({ mode: 'max', period: 'day', keep: 1, ties: 'redis' });
    expect(p.geo[0].fences).toHaveLength(2);
    expect(p.geo[0].ttlMs).toBe(600_000);
  });

  it('reads JSON as well as YAML', () => {
    const json = JSON.stringify({ sources: [{ name: 's' }], features: [{ name: 'f', source: 's', entity: 'k', aggregation: 'count', windows: ['5m'] }] });
    expect(parsePipeline(json).features[0].windows).toEqual([{ label: '5m', ms: 300_000 }]);
  });

  it('lists every problem with its path, in file order', () => {
    const problems = problemsOf(`
sources:
  - name: transactions
features:
  - name: ok
    source: transactions
    entity: card_id
    aggregation: count
    windows: [1m]
  - name: bad
    source: transactionz
    entity: card_id
    aggregation: sum
    field: amount
    windows: [1h, 5x]
  - name: ok
    source: transactions
    entity: card_id
    aggregation: median
    windows: [1m]
`);
    expect(problems).toEqual([
      'features[1].source: unknown source "transactionz" (declared: transactions)',
      'features[1].windows[1]: "5x" is not a duration (e.g. 30s, 5m, 1h, 7d or lifetime)',
      'features[2].aggregation: "median" must be one of count, sum, min, max, avg, distinct, quantile, last, topk',
      'features[2].name: duplicate name "ok" (also features[0])',
    ]);
  });

  it('reads vector(N) fields, cosine unless a metric is given', () => {
    const p = parsePipeline('sources: [{ name: s }]\nviews: [{ name: v, source: s, entity: k, fields: { a: vector(128), b: { type: vector(3), metric: l2 }, c: { type: int } } }]');
    expect(p.views[0].fields).toEqual([
      { name: 'a', type: 'vector', dims: 128, metric: 'cosine' },
      { name: 'b', type: 'vector', dims: 3, metric: 'l2' },
      { name: 'c', type: 'int' },
    ]);
  });

  it.each([
    ['a missing required field', 'sources: [{ name: s }]\nfeatures: [{ name: f, source: s, aggregation: count, windows: [1m] }]', 'features[0].entity: is missing'],
    ['a field a sum needs', 'sources: [{ name: s }]\nfeatures: [{ name: f, source: s, entity: k, aggregation: sum, windows: [1m] }]', 'features[0].field: is missing; "sum" aggregates a field'],
    ['a quantile without its rank', 'sources: [{ name: s }]\nfeatures: [{ name: f, source: s, entity: k, aggregation: quantile, field: x, windows: [1m] }]', 'features[0].quantile: is missing'],
    ['an unknown setting', 'sources: [{ name: s, lateness: 5s, colour: red }]\nfeatures: [{ name: f, source: s, entity: k, aggregation: count, windows: [1m] }]', 'sources[0].colour: "colour" is not a known setting'],
    ['a bad lateness', 'sources: [{ name: s, lateness: soon }]\nfeatures: [{ name: f, source: s, entity: k, aggregation: count, windows: [1m] }]', 'sources[0].lateness: "soon" is not a duration'],
    ['an empty windows list', 'sources: [{ name: s }]\nfeatures: [{ name: f, source: s, entity: k, aggregation: count, windows: [] }]', 'features[0].windows: [] must contain at least 1 elements'],
    ['a duplicate window', 'sources: [{ name: s }]\nfeatures: [{ name: f, source: s, entity: k, aggregation: count, windows: [1m, 1m] }]', 'features[0].windows[1]: duplicate window "1m"'],
    ['a bad view field type', 'sources: [{ name: s }]\nviews: [{ name: v, source: s, entity: k, fields: { a: decimal } }]', 'views[0].fields.a: "decimal" is not a field type'],
    ['a fence with no shape', 'sources: [{ name: s }]\ngeo: [{ name: g, source: s, member: m, lat: la, lon: lo, fences: [{ name: f }] }]', 'geo[0].fences[0]: fence "f" has neither circle nor polygon; it needs exactly one'],
    ['a polygon point out of range', 'sources: [{ name: s }]\ngeo: [{ name: g, source: s, member: m, lat: la, lon: lo, fences: [{ name: f, polygon: [[1, 2], [91, 2], [1, 3]] }] }]', 'geo[0].fences[0].polygon[1]: [91,2] is outside'],
    ['a leaderboard mode', 'sources: [{ name: s }]\nleaderboards: [{ name: l, source: s, member: m, score: x, mode: sum }]', 'leaderboards[0].mode: "sum" must be one of incr, max, set'],
    ['a name shared by a feature and a view', 'sources: [{ name: s }]\nfeatures: [{ name: x, source: s, entity: k, aggregation: count, windows: [1m] }]\nviews: [{ name: x, source: s, entity: k, fields: { a: int } }]', 'views[0].name: name "x" is already used by features[0].name'],
    ['two sources on one topic', 'sources: [{ name: a, topic: t }, { name: b, topic: t }]\nfeatures: [{ name: f, source: a, entity: k, aggregation: count, windows: [1m] }]', 'sources[1].topic: topic "t" is already read by sources[0]'],
    ['a file that declares nothing', 'sources: [{ name: s }]', '(root): declares nothing to compute'],
    ['text that is not YAML', 'sources: [ {', 'not valid YAML or JSON'],
    ['a document that is not a mapping', '- 1\n- 2', '(root): [1,2] is not a mapping'],
    ['a vector of no numbers', 'sources: [{ name: s }]\nviews: [{ name: v, source: s, entity: k, fields: { e: vector(0) } }]', 'views[0].fields.e: "vector(0)" declares 0 numbers; a vector has 1 to 4096'],
    ['an unknown metric', 'sources: [{ name: s }]\nviews: [{ name: v, source: s, entity: k, fields: { e: { type: vector(3), metric: hamming } } }]', 'views[0].fields.e.metric: "hamming" is not a metric (cosine, l2, ip)'],
    ['a metric on a scalar field', 'sources: [{ name: s }]\nviews: [{ name: v, source: s, entity: k, fields: { e: { type: float, metric: l2 } } }]', 'views[0].fields.e.metric: "l2" given, but a metric only applies to vector(N) fields, not "float"'],
    ['an unknown field setting', 'sources: [{ name: s }]\nviews: [{ name: v, source: s, entity: k, fields: { e: { type: vector(3), size: 3 } } }]', 'views[0].fields.e.size: "size" is not a known setting (type, metric)'],
  ])('refuses %s', (_what, text, expected) => {
    expect(problemsOf(text).join('\n')).toContain(expected);
  });

  it('quotes the value it refuses in every problem', () => {
    const problems = problemsOf(`
sources:
  - { name: s, lateness: 5, colour: red }
  - 7
features:
  - { name: 9lives, source: 3, entity: "a..b", aggregation: median-ish, windows: 1m }
  - { name: f, source: s, entity: k, aggregation: sum, field: x, quantile: 0.5, windows: [1m, 90] }
  - { name: q, source: s, entity: k, aggregation: quantile, field: x, quantile: 1.5, windows: [1m] }
views:
  - { name: v, source: s, entity: k, fields: 3 }
  - { name: w, source: s, entity: k, fields: {} }
leaderboards:
  - { name: l, source: s, member: m, score: x, mode: sum, period: year, keep: 2000, ties: x }
geo:
  - name: g
    source: s
    member: m
    lat: la
    lon: lo
    fences:
      - { name: a, circle: { lat: 91, lon: 0, radiusMeters: -1 } }
      - { name: b, polygon: [[1, 2], [3, 4]] }
      - { name: c, circle: { lat: 1, lon: 1, radiusMeters: 1 }, polygon: [[1, 2], [3, 4], [5, 6]] }
`);
    expect(problems).toEqual([
      'sources[0].colour: "colour" is not a known setting',
      'sources[0].lateness: 5 must be a string',
      'sources[1]: 7 must be a mapping',
      'features[0].aggregation: "median-ish" must be one of count, sum, min, max, avg, distinct, quantile, last, topk',
      'features[0].entity: "a..b" must be a field path such as "card_id", or a list of 2 to 8 distinct paths such as [user_id, campaign_id]',
      'features[0].name: "9lives" must be a name of letters, digits, "_", "-" or "." starting with a letter or "_"',
      'features[0].source: 3 must be a string',
      'features[0].windows: "1m" must be an array',
      'features[1].quantile: 0.5 given, but a rank only applies to the quantile aggregation, not "sum"',
      'features[1].windows[1]: 90 is not a duration (e.g. 30s, 5m, 1h, 7d or lifetime)',
      'features[2].quantile: 1.5 must not be greater than 1',
      'views[0].fields: 3 must be an object',
      'views[1].fields: {} declares no field; name at least one with its type',
      'leaderboards[0].keep: 2000 must not be greater than 1000',
      'leaderboards[0].mode: "sum" must be one of incr, max, set',
      'leaderboards[0].period: "year" must be one of all, hour, day, week',
      'leaderboards[0].ties: "x" must be one of redis, first',
      'geo[0].fences[0].circle.lat: 91 must not be greater than 85.05112878',
      'geo[0].fences[0].circle.radiusMeters: -1 must not be less than 0',
      'geo[0].fences[1].polygon: [[1,2],[3,4]] has 2 points; a polygon needs at least 3',
      'geo[0].fences[2]: fence "c" has both circle and polygon; it needs exactly one',
    ]);
  });

  it('quotes a long value cut short, and says what a file that is no mapping holds', () => {
    const long = 'x'.repeat(200);
    const [problem] = problemsOf(`sources: [{ name: s }]\nfeatures: [{ name: f, source: s, entity: k, aggregation: ${long}, windows: [1m] }]`);
    expect(problem).toBe(`features[0].aggregation: "${'x'.repeat(78)}\u2026 must be one of count, sum, min, max, avg, distinct, quantile, last, topk`);
    expect(problemsOf('"just text"')).toEqual(['(root): "just text" is not a mapping; the file must be a mapping with `sources` and at least one of features, views, leaderboards, geo']);
    expect(problemsOf('')).toEqual(['(root): null is not a mapping; the file must be a mapping with `sources` and at least one of features, views, leaderboards, geo']);
  });

  it('checks where: conditions at load, naming the path and quoting the expression', () => {
    const problems = problemsOf(`
sources: [{ name: s }]
features:
  - { name: ok, source: s, entity: k, aggregation: count, windows: [1m], where: 'status == "declined"' }
  - { name: f, source: s, entity: k, aggregation: count, windows: [1m], where: 'amount >' }
views:
  - { name: v, source: s, entity: k, fields: { a: int }, where: 'a + 1' }
leaderboards:
  - { name: l, source: s, member: m, score: x, where: 'nope(1)' }
`);
    expect(problems).toEqual([
      expect.stringMatching(/^features\[1\]\.where: "amount >" is not a valid condition: Unexpected token/),
      expect.stringMatching(/^views\[0\]\.where: "a \+ 1" is not a valid condition: it gives int, not a condition \(bool\)/),
      expect.stringMatching(/^leaderboards\[0\]\.where: "nope\(1\)" is not a valid condition: found no matching overload/),
    ]);
    const p = parsePipeline(`
sources: [{ name: s }]
features: [{ name: ok, source: s, entity: k, aggregation: count, windows: [1m], where: 'status == "declined"' }]
`);
    expect(p.features[0].where).toBe('status == "declined"');
  });

  it('reads history: on features and views, and refuses a bad one or one with a lifetime window', () => {
    const p = parsePipeline(`
sources: [{ name: s }]
features: [{ name: f, source: s, entity: k, aggregation: count, windows: [1m, 1h], history: 7d }]
views: [{ name: v, source: s, entity: k, fields: { a: int }, history: 2d }]
`);
    expect(p.features[0].historyMs).toBe(7 * 86_400_000);
    expect(p.views[0].historyMs).toBe(2 * 86_400_000);
    expect(problemsOf(`
sources: [{ name: s }]
features:
  - { name: f, source: s, entity: k, aggregation: count, windows: [1m], history: 7 days }
  - { name: g, source: s, entity: k, aggregation: count, windows: [1m, lifetime], history: 1d }
views: [{ name: v, source: s, entity: k, fields: { a: int }, history: forever }]
`)).toEqual([
      'features[0].history: "7 days" is not a duration (e.g. 30s, 5m, 1h, 7d)',
      'features[1].history: "1d" given, but a lifetime window would keep every event for at: reads; drop the lifetime window or history:',
      'views[0].history: "forever" is not a duration (e.g. 30s, 5m, 1h, 7d)',
    ]);
  });

  it('takes a list of fields as a composite entity, and names what is wrong with one', () => {
    const p = parsePipeline(`
sources: [{ name: s }]
features: [{ name: caps, source: s, entity: [user_id, campaign.id], aggregation: count, windows: [1h] }]
views: [{ name: v, source: s, entity: card, fields: { a: int } }]
`);
    expect(p.features[0]).toMatchObject({ entity: ['user_id'], composite: [['user_id'], ['campaign', 'id']] });
    expect(p.views[0].composite).toBeUndefined();
    const problems = problemsOf(`
sources: [{ name: s }]
features:
  - { name: a, source: s, entity: [user_id], aggregation: count, windows: [1h] }
  - { name: b, source: s, entity: [u, u], aggregation: count, windows: [1h] }
views:
  - { name: v, source: s, entity: [u, "a..b"], fields: { a: int } }
`);
    expect(problems).toHaveLength(3);
    for (const [i, at] of ['features[0].entity', 'features[1].entity', 'views[0].entity'].entries()) {
      expect(problems[i]).toMatch(new RegExp(`^${at.replace(/[[\].]/g, '\\$&')}: .*must be a field path such as "card_id", or a list of 2 to 8 distinct paths`));
    }
  });

  it('checks on-demand features at load: inputs name served values, request variables have types, the expression checks over them', () => {
    const head = `
sources: [{ name: s }]
features: [{ name: spend, source: s, entity: k, aggregation: sum, field: x, windows: [1h] }]
views: [{ name: home, source: s, entity: k, fields: { lat: float, country: string } }]
`;
    const p = parsePipeline(`${head}on_demand:
  - { name: share, inputs: { spent: "spend:1h" }, request: { amount: double }, expression: amount / spent }
  - { name: far, inputs: { hlat: "home:lat" }, request: { lat: double }, expression: "distance(lat, 0.0, hlat, 0.0) > 1000.0" }
`);
    expect(p.onDemand).toEqual([
      { name: 'share', inputs: [{ name: 'spent', ref: 'spend:1h' }], request: [{ name: 'amount', type: 'double' }], expression: 'amount / spent' },
      { name: 'far', inputs: [{ name: 'hlat', ref: 'home:lat' }], request: [{ name: 'lat', type: 'double' }], expression: 'distance(lat, 0.0, hlat, 0.0) > 1000.0' },
    ]);
    expect(problemsOf(`${head}on_demand:
  - { name: a, inputs: { spent: "spend:5m", c: "home:nope" }, expression: spent }
  - { name: b, request: { amount: decimal }, expression: amount }
  - { name: c, inputs: { spent: "spend:1h" }, request: { amount: double }, expression: amount + country }
  - { name: d, inputs: { c: "home:country" }, expression: c / 2.0 }
  - { name: spend, inputs: { spent: "spend:1h" }, expression: spent }
`)).toEqual([
      'on_demand[0].inputs.c: "home:nope" is not a served value (write feature:window or view:field of this pipeline)',
      'on_demand[0].inputs.spent: "spend:5m" is not a served value (write feature:window or view:field of this pipeline)',
      'on_demand[1].request.amount: "decimal" is not a type (double, string, bool)',
      'on_demand[2].expression: "amount + country" is not a valid expression: Unknown variable: country',
      'on_demand[3].expression: "c / 2.0" is not a valid expression: no such overload: string / double',
      'on_demand[4].name: "spend" is already a feature or view name',
    ]);
  });

  it('compiles topk features: the item field, k (default 10) and an optional weight field', () => {
    const p = parsePipeline(`
sources: [{ name: tx }]
features:
  - { name: top_merchants, source: tx, entity: card_id, aggregation: topk, field: merchant_id, windows: [1h] }
  - { name: top_spend, source: tx, entity: card_id, aggregation: topk, field: merchant.id, k: 3, weight: amount.eur, windows: [1h, 24h] }
`);
    expect(p.features[0]).toMatchObject({ aggregation: 'topk', field: ['merchant_id'], k: 10 });
    expect(p.features[0].weight).toBeUndefined();
    expect(p.features[1]).toMatchObject({ aggregation: 'topk', field: ['merchant', 'id'], k: 3, weight: ['amount', 'eur'] });
  });

  it('refuses a topk feature declared wrong, naming the path and quoting the value, every problem at once', () => {
    expect(problemsOf(`
sources: [{ name: tx }]
features:
  - { name: a, source: tx, entity: card, aggregation: topk, windows: [1h] }
  - { name: b, source: tx, entity: card, aggregation: topk, field: m, k: 0, windows: [1h] }
  - { name: c, source: tx, entity: card, aggregation: topk, field: m, k: 101, windows: [1h] }
  - { name: d, source: tx, entity: card, aggregation: topk, field: m, k: 2.5, windows: [1h] }
  - { name: e, source: tx, entity: card, aggregation: topk, field: m, k: "5", windows: [1h] }
  - { name: f, source: tx, entity: card, aggregation: sum, field: amount, k: 5, weight: amount, windows: [1h] }
  - { name: g, source: tx, entity: card, aggregation: topk, field: m, weight: m, windows: [1h] }
  - { name: h, source: tx, entity: card, aggregation: topk, field: m, weight: "not a path", windows: [1h] }
on_demand:
  - { name: od, inputs: { t: "b:1h" }, expression: t > 1.0 }
`)).toEqual([
      'features[0].field: is missing; "topk" counts the values of a field (the items, e.g. field: merchant_id)',
      'features[1].k: 0 must be a whole number from 1 to 100',
      'features[2].k: 101 must be a whole number from 1 to 100',
      'features[3].k: 2.5 must be a whole number from 1 to 100',
      'features[4].k: "5" must be a whole number from 1 to 100',
      'features[5].k: 5 given, but k only applies to the topk aggregation, not "sum"',
      'features[5].weight: "amount" given, but a weight field only applies to the topk aggregation, not "sum"',
      'features[6].weight: "m" is also the item field; the weight must be another (numeric) field',
      'features[7].weight: "not a path" must be a field path such as "card_id" or "card.id"',
      'on_demand[0].inputs.t: "b:1h" is a topk feature, whose value is a list of items; inputs are numbers, strings or bools',
    ]);
  });

  it('loads the bundled demo pipeline', () => {
    expect(loadPipeline(DEMO_PIPELINE_PATH).features.length).toBeGreaterThan(0);
    expect(readFileSync(DEMO_PIPELINE_PATH, 'utf8')).toContain('sources:');
  });

  it('says so when the file cannot be read', () => {
    expect(() => loadPipeline('/nonexistent/pipeline.yaml')).toThrow('cannot read the file');
  });
});
