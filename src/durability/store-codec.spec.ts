import { ChangeFeed, type Change } from '../changes/change-feed.js';
import { EventProcessor } from '../ingest/event-processor.js';
import { Router } from '../ingest/router.js';
import { createLogger } from '../ops/logger.js';
import { Metrics } from '../ops/metrics.js';
import { parsePipeline } from '../pipeline/load.js';
import { mulberry32 } from '../../test/support/random.js';
import { storesFor } from '../../test/support/stores.js';
import { digestStores } from './digest.js';
import { SECTION, SnapshotEncoder, parseSnapshot, type ParsedSection } from './snapshot-format.js';
import { restoreStores, writeStores, type StoreSet } from './store-codec.js';

const PIPELINE = `
sources:
  - { name: tx, timestamp: ts, lateness: 2h }
  - { name: pos, timestamp: ts, lateness: 2h }
features:
  - { name: n, source: tx, entity: card, aggregation: count, windows: [1m, 1h, lifetime] }
  - { name: s, source: tx, entity: card, aggregation: sum, field: amount, windows: [1h, 24h] }
  - { name: lo, source: tx, entity: card, aggregation: min, field: amount, windows: [1h] }
  - { name: hi, source: tx, entity: card, aggregation: max, field: amount, windows: [1h] }
  - { name: av, source: tx, entity: card, aggregation: avg, field: amount, windows: [5m, 1h] }
  - { name: la, source: tx, entity: card, aggregation: last, field: amount, windows: [1h] }
  - { name: d, source: tx, entity: card, aggregation: distinct, field: m, windows: [1h, lifetime] }
  - { name: q, source: tx, entity: card, aggregation: quantile, field: amount, quantile: 0.9, windows: [1h, lifetime] }
  - { name: top, source: tx, entity: card, aggregation: topk, field: m, k: 2, windows: [1h, lifetime] }
  - { name: top_spend, source: tx, entity: card, aggregation: topk, field: m, weight: weight, windows: [1h] }
  - { name: entries, source: drivers.fences, entity: fence, aggregation: count, windows: [lifetime] }
views:
  - { name: v, source: tx, entity: card, fields: { amount: float, m: string, flag: boolean, vec: "float[]", tier: int }, ttl: 30d }
leaderboards:
  - { name: daily, source: tx, member: card, score: amount, mode: incr, period: day, keep: 2 }
  - { name: best, source: tx, member: card, score: amount, mode: max, period: all, ties: first }
geo:
  - name: drivers
    source: pos
    member: driver
    lat: lat
    lon: lon
    fences:
      - { name: airport, circle: { lat: 40.6413, lon: -73.7781, radiusMeters: 2000 } }
      - { name: downtown, polygon: [[40.70, -74.02], [40.70, -73.97], [40.75, -73.97], [40.75, -74.02]] }
`;
const T0 = Date.UTC(2026, 10, 25, 12);
const pipeline = parsePipeline(PIPELINE, 'test');

function app(p = pipeline) {
  const stores = storesFor(p);
  const processor = new EventProcessor(new Router(p), stores, new ChangeFeed<Change>(), new Metrics(), createLogger('silent'), () => T0 + 3 * 3_600_000);
  return { stores, processor };
}

/** A seeded stream: one card with more than 512 merchants (a dense HyperLogLog), negative and zero amounts, drivers crossing fences. */
function feed(processor: EventProcessor, seed: number, n: number, from = T0): void {
  const rand = mulberry32(seed);
  for (let i = 0; i < n; i++) {
    const ts = from + i * 1_000;
    const card = i % 7 === 0 ? 'heavy' : `c${Math.floor(rand() * 40)}`;
    const amount = Math.round((rand() * 2000 - 200) * 100) / 100;
    const m = card === 'heavy' ? `m${i}` : `m${Math.floor(rand() * 5)}`;
    const view: Record<string, unknown> = { amount };
    if (rand() < 0.5) view.flag = rand() < 0.5;
    if (rand() < 0.3) view.vec = [rand(), -rand(), 0];
    if (rand() < 0.3) view.tier = Math.floor(rand() * 5);
    processor.ingest('tx', [{ card, amount: rand() < 0.05 ? 0 : amount, m, weight: Math.abs(amount), ts, ...view }]);
    if (i % 3 === 0) {
      const d = `d${Math.floor(rand() * 10)}`;
      const [lat, lon] = rand() < 0.3 ? [40.6413 + (rand() - 0.5) * 0.01, -73.7781 + (rand() - 0.5) * 0.01] : [40.72 + (rand() - 0.5) * 0.04, -73.99 + (rand() - 0.5) * 0.04];
      processor.ingest('pos', [{ driver: d, lat, lon, ts }]);
    }
  }
}

async function encode(stores: StoreSet): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const enc = new SnapshotEncoder(async (c) => void chunks.push(Buffer.from(c)));
  await enc.header(T0);
  await writeStores(enc, stores);
  await enc.footer();
  return Buffer.concat(chunks);
}

function storeSections(buf: Buffer): ParsedSection[] {
  const parsed = parseSnapshot(buf);
  expect(parsed.problems).toEqual([]);
  return parsed.sections;
}

const AT = [T0 + 3_600_000, T0 + 3 * 3_600_000, T0 + 30 * 3_600_000];

describe('store codec', () => {
  it('restores every store so that it reads, and then updates, exactly as the original', async () => {
    const a = app();
    feed(a.processor, 1, 4_000);
    const b = app();
    const report = await restoreStores(storeSections(await encode(a.stores)), b.stores);
    expect(report.skipped).toEqual([]);
    expect(report.counts['FEAT d']).toBe(a.stores.features.feature('d').size);
    expect(a.stores.features.feature('d').read('heavy', 'lifetime', AT[1]).value).toBeGreaterThan(512);
    // The heavy card's topk tiles overran their capacity (32): errors and floors go through too.
    const heavyTop = a.stores.features.feature('top').read('heavy', 'lifetime', AT[1]).top!;
    expect(heavyTop.unlistedAtMost).toBeGreaterThan(0);
    expect(heavyTop.items.some((x) => x.error > 0)).toBe(true);
    expect(b.stores.features.feature('top').read('heavy', 'lifetime', AT[1])).toEqual(a.stores.features.feature('top').read('heavy', 'lifetime', AT[1]));
    expect(b.stores.features.feature('top_spend').read('c1', '1h', AT[0]).top!.items.length).toBeGreaterThan(0);
    for (const at of AT) expect((await digestStores(b.stores, [], at)).digest).toBe((await digestStores(a.stores, [], at)).digest);
    // The same later events on both: restored IRs (sketches included) go on as the originals.
    feed(a.processor, 2, 1_000, T0 + 3_000_000);
    feed(b.processor, 2, 1_000, T0 + 3_000_000);
    for (const at of AT) expect((await digestStores(b.stores, [], at)).stores).toEqual((await digestStores(a.stores, [], at)).stores);
    expect(b.stores.geo.collection('drivers').fencesOf('d1')).toEqual(a.stores.geo.collection('drivers').fencesOf('d1'));
    expect(b.stores.leaderboards.require('daily').top(0, 5, 'current', AT[1])).toEqual(a.stores.leaderboards.require('daily').top(0, 5, 'current', AT[1]));
  });

  it('restores the history of features and views, so as-of reads answer as before the snapshot', async () => {
    const withHistory = parsePipeline(
      PIPELINE.replace('windows: [1h, 24h] }', 'windows: [1h, 24h], history: 2h }')
        .replace('field: m, windows: [1h, lifetime] }', 'field: m, windows: [1h] , history: 2h }')
        .replace('quantile: 0.9, windows: [1h, lifetime] }', 'quantile: 0.9, windows: [1h], history: 2h }')
        .replace('ttl: 30d }', 'ttl: 30d, history: 1d }')
        .replace('weight: weight, windows: [1h] }', 'weight: weight, windows: [1h], history: 2h }'),
      'history',
    );
    const a = app(withHistory);
    feed(a.processor, 5, 4_000);
    const b = app(withHistory);
    const report = await restoreStores(storeSections(await encode(a.stores)), b.stores);
    expect(report.skipped).toEqual([]);
    expect(report.counts['FHST s']).toBe(a.stores.features.feature('s').history!.size);
    expect(report.counts['VHST v']).toBeGreaterThan(0);
    expect(report.counts['FHST top_spend']).toBe(a.stores.features.feature('top_spend').history!.size);
    const now = T0 + 4_000_000;
    for (const at of [T0 + 1_000_000, T0 + 2_500_000, now]) {
      for (const card of ['heavy', 'c1', 'c7', 'c39']) {
        for (const [name, window] of [['s', '1h'], ['s', '24h'], ['d', '1h'], ['q', '1h'], ['top_spend', '1h']]) {
          expect(b.stores.features.read(name, card, window, now, undefined, at)).toEqual(a.stores.features.read(name, card, window, now, undefined, at));
        }
        expect(b.stores.views.read('v', card, now, at)).toEqual(a.stores.views.read('v', card, now, at));
      }
    }
    expect(a.stores.features.read('s', 'heavy', '1h', now, undefined, T0 + 2_500_000).value).not.toBeNull();
  });

  it('digests differ when one event differs', async () => {
    const a = app();
    const b = app();
    feed(a.processor, 3, 500);
    feed(b.processor, 3, 500);
    expect(b.processor.ingest('tx', [{ card: 'c1', amount: 1, m: 'x', weight: 1, ts: T0 + 10 }]).accepted).toBe(1);
    const [da, db] = [await digestStores(a.stores, [], AT[1]), await digestStores(b.stores, [], AT[1])];
    expect(db.digest).not.toBe(da.digest);
    expect(db.stores.filter((s, i) => s.digest !== da.stores[i].digest).map((s) => s.name)).toEqual(expect.arrayContaining(['n', 's', 'd', 'daily']));
  });

  it('skips, and names, sections whose store is gone or changed shape, and restores the rest', async () => {
    const a = app();
    feed(a.processor, 4, 300);
    const changed = parsePipeline(
      PIPELINE.replace('aggregation: min,', 'aggregation: max,')
        .replace('windows: [1h, 24h]', 'windows: [1h, 7d]')
        .replace('mode: incr, period: day', 'mode: incr, period: hour')
        .replace(/ {2}- \{ name: la,.*\n/, ''),
      'changed',
    );
    const b = app(changed);
    const report = await restoreStores(storeSections(await encode(a.stores)), b.stores);
    expect(report.skipped.sort()).toEqual([
      'FEAT la: the pipeline declares no such feature',
      'FEAT lo: aggregation changed from min to max',
      'FEAT s: tile widths changed from [120000, 3600000] to [120000, 21600000] (windows changed)',
      'LBRD daily: mode/period changed from incr/day to incr/hour',
    ]);
    expect(b.stores.features.feature('s').size).toBe(0);
    expect(b.stores.features.feature('n').size).toBe(a.stores.features.feature('n').size);
  });

  it('writes a store in several frames when it does not fit one', async () => {
    const a = app(parsePipeline('sources: [{ name: tx, timestamp: ts }]\nfeatures: [{ name: n, source: tx, entity: card, aggregation: count, windows: [lifetime] }]', 't'));
    for (let i = 0; i < 120_000; i++) a.processor.ingest('tx', [{ card: `card-number-${i}-with-a-long-key-to-fill-frames`, ts: T0 }]);
    const sections = storeSections(await encode(a.stores));
    const feat = sections.find((s) => s.tag === SECTION.feature)!;
    expect(feat.frames.length).toBeGreaterThan(2);
    const b = app(parsePipeline('sources: [{ name: tx, timestamp: ts }]\nfeatures: [{ name: n, source: tx, entity: card, aggregation: count, windows: [lifetime] }]', 't'));
    await restoreStores(sections, b.stores);
    expect(b.stores.features.feature('n').size).toBe(120_000);
    expect(b.stores.features.read('n', 'card-number-119999-with-a-long-key-to-fill-frames', 'lifetime', T0).value).toBe(1);
  });
});

describe('store codec, vector fields', () => {
  const p = parsePipeline(`
sources: [{ name: cards, timestamp: ts, lateness: 2h }]
views:
  - { name: emb, source: cards, entity: card, fields: { e: vector(16), country: string }, ttl: 30d }
`);

  it('keeps the vectors as float32 and rebuilds the index, so that similar answers as before', async () => {
    const a = app(p);
    const rand = mulberry32(7);
    // Past the brute-force size, so the restored field searches its rebuilt graph.
    for (let i = 0; i < 5_000; i++) {
      a.processor.ingest('cards', [{ card: `c${i}`, country: i % 10 === 0 ? 'FR' : 'DE', e: Array.from({ length: 16 }, () => rand() * 2 - 1), ts: T0 + i }]);
    }
    const b = app(p);
    const report = await restoreStores(storeSections(await encode(a.stores)), b.stores);
    expect(report.counts[`${SECTION.view} emb`]).toBe(5_000);
    const [va, vb] = [a.stores.views.view('emb'), b.stores.views.view('emb')];
    expect(vb.vectorIndex(vb.indexOf('e'))!.usesGraph).toBe(true);
    expect(vb.read('c17', AT[1])).toEqual(va.read('c17', AT[1]));
    for (let q = 0; q < 20; q++) {
      const vector = Array.from({ length: 16 }, () => rand() * 2 - 1);
      // Both answer from a graph (built in another order): compare with the exact answer.
      const exact = [...Array(5_000).keys()].map((i) => va.read(`c${i}`, AT[1])!.values.e as number[]);
      const want = exact.map((e) => 1 - dot(e, vector) / (Math.hypot(...e) * Math.hypot(...vector))).sort((x, y) => x - y).slice(0, 10);
      const got = vb.similar({ field: 'e', k: 10, vector }, AT[1]).map((h) => h.distance);
      expect(got.filter((d) => d <= want[9] + 1e-6).length).toBeGreaterThanOrEqual(9);
      const fr = vb.similar({ field: 'e', k: 10, vector, where: 'country == "FR"' }, AT[1]);
      expect(fr).toHaveLength(10);
    }
  });
});

function dot(a: number[], b: number[]): number {
  return a.reduce((s, x, i) => s + Math.fround(x) * Math.fround(b[i]), 0);
}
