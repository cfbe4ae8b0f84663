import { buildSchema, getOperationAST, parse, validate } from 'graphql';
import { checkStructure, MAX_FIELD_REPEATS, MAX_VALUE_DEPTH, operationCost } from './document-limits.js';

const schema = buildSchema(`
  type Query {
    feature(name: String!, entity: String!): Value
    onlineFeatures(entities: [String!]!, features: [String!]!): [Row!]!
    leaderboard(name: String!, limit: Int = 10): [Entry!]!
    around(member: String!, radius: Int = 5): [Entry!]!
    nearest(k: Int!): [Entry!]!
    similar(k: Int!, vector: [Float!]): [Entry!]!
    node: Node
  }
  type Mutation { ingest(source: String!, events: [JSON!]!): Result! }
  scalar JSON
  type Value { value: Float, asOf: String }
  type Row { entity: String!, values: [JSON]! }
  type Entry { rank: Int!, member: String! }
  type Result { accepted: Int!, errors: [Err!]! }
  type Err { index: Int!, message: String! }
  type Node { id: String, child: Node }
`);
const limits = { maxDepth: 4, maxAliases: 3 };
const structure = (q: string) => checkStructure(parse(q), limits).map((e) => e.extensions.code);
const cost = (q: string, variables?: Record<string, unknown>) => {
  const doc = parse(q);
  expect(validate(schema, doc)).toEqual([]);
  return operationCost(schema, doc, getOperationAST(doc)!, variables);
};

describe('checkStructure', () => {
  it('lets a document within every limit through', () => {
    expect(structure('{ a: feature(name: "n", entity: "e") { value } b: node { child { child { id } } } }')).toEqual([]);
  });

  it('counts depth with fragments expanded, a root field being depth 1', () => {
    expect(structure('{ node { child { child { id } } } }')).toEqual([]);
    expect(structure('{ node { child { child { child { id } } } } }')).toEqual(['TOO_DEEP']);
    expect(structure('{ node { ...A } } fragment A on Node { child { ...B } } fragment B on Node { child { child { id } } }')).toEqual(['TOO_DEEP']);
  });

  it('counts aliases over the operation, each fragment use counted', () => {
    expect(structure('{ a: node { id } b: node { id } c: node { id } }')).toEqual([]);
    expect(structure('{ a: node { id } b: node { id } c: node { id } d: node { id } }')).toEqual(['TOO_MANY_ALIASES']);
    expect(structure('{ ...F ...F } fragment F on Query { a: node { id } b: node { id } }')).toContain('TOO_MANY_ALIASES');
  });

  it(`refuses a response name selected more than ${MAX_FIELD_REPEATS} times in one selection set, through fragments too`, () => {
    expect(structure(`{ ${'node { id } '.repeat(MAX_FIELD_REPEATS)} }`)).toEqual([]);
    expect(structure(`{ ${'node { id } '.repeat(MAX_FIELD_REPEATS + 1)} }`)).toEqual(['REPEATED_FIELD']);
    expect(structure(`{ node { ...F ...F ...F } } fragment F on Node { id child { id } }`)).toEqual([]);
    expect(structure(`{ node { ...F ...F } } fragment F on Node { ...G ...G } fragment G on Node { id id }`)).toEqual(['REPEATED_FIELD']);
  });

  it(`refuses argument literals nested deeper than ${MAX_VALUE_DEPTH}`, () => {
    const nested = (n: number) => `mutation { ingest(source: "s", events: [${'{a: '.repeat(n - 2)}1${'}'.repeat(n - 2)}]) { accepted } }`;
    expect(structure(nested(MAX_VALUE_DEPTH))).toEqual([]);
    expect(structure(nested(MAX_VALUE_DEPTH + 1))).toEqual(['TOO_DEEP']);
  });

  it('measures a fragment bomb in time linear in its text', () => {
    let q = '{ ...F0 }';
    for (let i = 0; i < 40; i++) q += ` fragment F${i} on Query { node { ...F${i + 1} } ...F${i + 1} }`;
    q += ' fragment F40 on Query { a: node { id } }';
    const started = process.hrtime.bigint();
    const codes = structure(q);
    expect(codes).toEqual(expect.arrayContaining(['TOO_DEEP', 'TOO_MANY_ALIASES', 'REPEATED_FIELD']));
    expect(Number(process.hrtime.bigint() - started) / 1e6).toBeLessThan(1_000);
  });

  it('terminates on fragment cycles (left to the standard validation)', () => {
    expect(structure('{ ...A } fragment A on Query { ...B } fragment B on Query { ...A node { id } }')).toEqual([]);
  });
});

describe('operationCost', () => {
  it('costs each field once, and a list field per item its arguments ask for', () => {
    expect(cost('{ feature(name: "n", entity: "e") { value asOf } }')).toBe(3);
    expect(cost('{ onlineFeatures(entities: ["a", "b", "c"], features: ["f"]) { entity values } }')).toBe(3 * 3);
    expect(cost('query($e: [String!]!) { onlineFeatures(entities: $e, features: ["f"]) { entity } }', { e: Array.from({ length: 1000 }, String) })).toBe(2000);
  });

  it('uses limit, k and radius, with the schema defaults', () => {
    expect(cost('{ leaderboard(name: "b") { rank member } }')).toBe(10 * 3);
    expect(cost('{ leaderboard(name: "b", limit: 1000000000) { rank } }')).toBe(2e9);
    expect(cost('{ around(member: "m") { rank } }')).toBe(11 * 2);
    expect(cost('{ nearest(k: 7) { rank } }')).toBe(14);
    // A query vector is one value, not items: k alone sizes similar.
    expect(cost('query($v: [Float!]) { similar(k: 3, vector: $v) { rank member } }', { v: new Array(1536).fill(0.5) })).toBe(3 * 3);
  });

  it('charges a write per event without multiplying its answer', () => {
    expect(cost('mutation($e: [JSON!]!) { ingest(source: "s", events: $e) { accepted errors { index message } } }', { e: new Array(10_000).fill({}) })).toBe(10_000 + 1 + 3);
  });

  it('adds fragments and aliases', () => {
    expect(cost('{ a: leaderboard(name: "x", limit: 5) { ...E } b: leaderboard(name: "y", limit: 5) { ...E } } fragment E on Entry { rank member }')).toBe(2 * 5 * 3);
  });
});
