// The cap on live operations per WebSocket connection (TALLY_WS_MAX_SUBSCRIPTIONS) under a
// burst: a client sending far more subscribes than the cap on one socket gets exactly the cap
// running, and every refusal counts what runs, not the refusals still being sent.
import { eventually, startTally, type RunningTally } from '../support/app.js';
import { countResolverCalls, type ResolverCalls } from '../support/resolver-calls.js';
import { RawWs } from '../support/ws-raw.js';

const PIPELINE = `
sources:
  - { name: transactions, timestamp: ts, lateness: 1h }
features:
  - { name: card_txn_count, source: transactions, entity: card_id, aggregation: count, windows: [1h] }
`;
const SUBSCRIPTION = 'subscription($e: String!) { featureUpdated(name: "card_txn_count", entity: $e, window: "1h") { value } }';
const CAP = 100;
const BURST = 1_000;

describe('live operations per WebSocket connection', () => {
  let tally: RunningTally;
  let calls: ResolverCalls;
  beforeAll(async () => {
    tally = await startTally(PIPELINE);
    calls = countResolverCalls(tally.app);
  });
  afterAll(() => tally?.close());

  const running = () => calls.byField.get('Subscription.featureUpdated') ?? 0;
  const errors = (ws: RawWs) => ws.messages.filter((m) => m.type === 'error');

  it(`runs ${CAP} of ${BURST} subscribes sent at once, and each refusal says ${CAP} run`, async () => {
    const ws = await RawWs.open(tally.url);
    try {
      expect(await ws.init()).toBe('ack');
      for (let i = 0; i < BURST; i++) ws.subscribe(String(i), SUBSCRIPTION, { e: `card-${i}` });
      await eventually(`${BURST - CAP} refusals`, () => errors(ws).length >= BURST - CAP);
      await new Promise((r) => setTimeout(r, 200)); // nothing more arrives
      const refused = errors(ws);
      expect(refused).toHaveLength(BURST - CAP);
      const messages = new Set(refused.map((m) => (m.payload as { message: string }[])[0].message));
      expect([...messages]).toEqual([`this connection already runs ${CAP} operations; at most ${CAP}`]);
      expect(running()).toBe(CAP);
      // the first CAP ids run: refusals are decided in arrival order
      expect(refused.map((m) => Number(m.id)).sort((a, b) => a - b)).toEqual(Array.from({ length: BURST - CAP }, (_, i) => CAP + i));

      // ending 3 makes room for exactly 3 more, and the count stays right
      for (const id of ['0', '1', '2']) ws.send({ id, type: 'complete' });
      await new Promise((r) => setTimeout(r, 100));
      for (const id of ['a', 'b', 'c', 'd']) ws.subscribe(id, SUBSCRIPTION, { e: `card-${id}` });
      expect(await ws.result('d')).toMatchObject({ type: 'error', payload: [{ message: `this connection already runs ${CAP} operations; at most ${CAP}` }] });
      await eventually('3 more running', () => running() === CAP + 3);
      expect(errors(ws).filter((m) => ['a', 'b', 'c'].includes(m.id!))).toEqual([]);
      // an id whose operation ended may be used again
      ws.send({ id: 'a', type: 'complete' });
      await new Promise((r) => setTimeout(r, 100));
      ws.subscribe('a', SUBSCRIPTION, { e: 'card-a-again' });
      await eventually('id "a" running again', () => running() === CAP + 4);
      expect(errors(ws).filter((m) => m.id === 'a')).toEqual([]);
    } finally {
      ws.close();
    }
  });

  it('counts no refused operation: a query over the socket still runs below the cap', async () => {
    const ws = await RawWs.open(tally.url);
    try {
      expect(await ws.init()).toBe('ack');
      const before = running();
      for (let i = 0; i < CAP - 1; i++) ws.subscribe(`s${i}`, SUBSCRIPTION, { e: `q-${i}` });
      await eventually(`${CAP - 1} running`, () => running() - before === CAP - 1);
      // invalid documents are refused by validation; while their errors are being sent they
      // must not take a place either
      for (let i = 0; i < 200; i++) ws.subscribe(`bad${i}`, 'subscription { noSuchField }');
      ws.subscribe('q', '{ feature(name: "card_txn_count", entity: "x", window: "1h") { value } }');
      expect(await ws.result('q')).toMatchObject({ type: 'next', payload: { data: { feature: { value: 0 } } } });
      await eventually('200 validation errors', () => errors(ws).length >= 200);
      expect(errors(ws).filter((m) => !m.id!.startsWith('bad'))).toEqual([]);
    } finally {
      ws.close();
    }
  });
});
