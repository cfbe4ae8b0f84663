import { buildSchema, getOperationAST, parse, type DocumentNode } from 'graphql';
import { Metrics } from '../../ops/metrics.js';
import type { Principal } from '../../security/api-keys.js';
import { RateLimiter } from '../../security/rate-limiter.js';
import { ROLE_EXTENSION } from '../../security/roles.js';
import { loadLimits } from '../../settings/limits.js';
import { OperationGate, requiredRole } from './operation-gate.js';

const schema = buildSchema(`
  type Query { value(id: String): Int, list(limit: Int = 10): [Int!]! }
  type Mutation { ingest(n: Int): Int, snapshot: Boolean, reset: Boolean }
  type Subscription { changes: Int }
`);
const mutations = schema.getMutationType()!.getFields();
Object.assign(mutations.ingest, { extensions: { [ROLE_EXTENSION]: 'writer' } });
Object.assign(mutations.snapshot, { extensions: { [ROLE_EXTENSION]: 'admin' } });

const reader: Principal = { id: 'key-1', role: 'reader' };
const writer: Principal = { id: 'key-2', role: 'writer' };
const admin: Principal = { id: 'key-3', role: 'admin' };

function setup(env: Record<string, string> = {}) {
  const limits = loadLimits({ TALLY_GRAPHQL_MAX_COST: '100', TALLY_RATE_LIMIT: '10', ...env }, []);
  const metrics = new Metrics();
  let now = 0;
  const sut = new OperationGate(limits, new RateLimiter(limits.rateLimit, 100), metrics, () => now);
  const admit = (p: Principal, q: string, variables?: Record<string, unknown>) => {
    const doc: DocumentNode = parse(q);
    return sut.admit(p, schema, doc, getOperationAST(doc)!, variables, 'http')?.extensions.code;
  };
  return { sut, metrics, admit, tick: (ms: number) => (now += ms) };
}

describe('requiredRole', () => {
  const role = (q: string) => {
    const doc = parse(q);
    return requiredRole(schema, doc, getOperationAST(doc)!);
  };

  it('needs reader for queries and subscriptions, the mark of a marked mutation, admin for an unmarked one', () => {
    expect(role('{ value list __typename }').role).toBe('reader');
    expect(role('subscription { changes }').role).toBe('reader');
    expect(role('mutation { ingest }').role).toBe('writer');
    expect(role('mutation { snapshot }')).toEqual({ role: 'admin', field: 'mutation field "snapshot"' });
    expect(role('mutation { reset }')).toEqual({ role: 'admin', field: 'mutation field "reset"' });
  });

  it('takes the highest role of all root fields, through fragments and aliases', () => {
    expect(role('mutation { a: ingest ...M } fragment M on Mutation { b: reset }').role).toBe('admin');
    expect(role('mutation { ... on Mutation { ingest } }').role).toBe('writer');
  });
});

describe(OperationGate.name, () => {
  it('lets each role do what it may, and refuses the rest as FORBIDDEN', () => {
    const { admit } = setup({ TALLY_RATE_LIMIT: '0' });
    const ops = ['{ value }', 'mutation { ingest }', 'mutation { snapshot }'];
    expect(ops.map((q) => admit(reader, q))).toEqual([undefined, 'FORBIDDEN', 'FORBIDDEN']);
    expect(ops.map((q) => admit(writer, q))).toEqual([undefined, undefined, 'FORBIDDEN']);
    expect(ops.map((q) => admit(admin, q))).toEqual([undefined, undefined, undefined]);
  });

  it('refuses an operation costing more than the maximum, before charging it', () => {
    const { admit } = setup();
    expect(admit(reader, '{ list(limit: 101) }')).toBe('TOO_COSTLY');
    expect(admit(reader, '{ list(limit: 100) }')).toBeUndefined(); // the whole bucket: nothing was taken before
  });

  it("takes each operation's cost from the key's bucket and says when to retry", () => {
    const { sut, admit, tick } = setup();
    const q = '{ list(limit: 59) }'; // cost 60; bucket 100, refilled 10/s
    expect(admit(reader, q)).toBeUndefined();
    const doc = parse(q);
    const refusal = sut.admit(reader, schema, doc, getOperationAST(doc)!, undefined, 'ws');
    expect(refusal?.extensions).toMatchObject({ code: 'RATE_LIMITED', retryAfterSeconds: 2 });
    expect(admit(writer, q)).toBeUndefined(); // another key, another bucket
    tick(2_000);
    expect(admit(reader, q)).toBeUndefined();
  });

  it('tryAdmit takes what admit would take, and leaves a refusal to admit with nothing taken or counted', async () => {
    const { sut, metrics, admit } = setup();
    const tryAdmit = (p: Principal, q: string) => {
      const doc = parse(q);
      return sut.tryAdmit(p, schema, doc, getOperationAST(doc)!, undefined);
    };
    expect(tryAdmit(reader, 'mutation { snapshot }')).toBe(false);
    expect(tryAdmit(reader, '{ list(limit: 101) }')).toBe(false);
    expect(tryAdmit(reader, '{ list(limit: 59) }')).toBe(true); // cost 60 of the 100
    expect(tryAdmit(reader, '{ list(limit: 59) }')).toBe(false); // 40 left
    expect(admit(reader, '{ list(limit: 39) }')).toBeUndefined(); // the refusal took none of them
    expect(await metrics.text()).not.toContain('tally_requests_refused_total{');
  });

  it('counts each refusal by transport and reason', async () => {
    const { sut, metrics, admit } = setup();
    admit(reader, 'mutation { snapshot }');
    sut.screen(parse(`{ ${'value '.repeat(9)} }`), 'ws');
    const text = await metrics.text();
    expect(text).toContain('tally_requests_refused_total{transport="http",reason="forbidden"} 1');
    expect(text).toContain('tally_requests_refused_total{transport="ws",reason="repeated-field"} 1');
  });
});
