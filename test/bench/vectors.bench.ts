// Vector search (`similar`) on synthetic embeddings: Gaussian clusters, 128 float32 dimensions,
// metric cosine, through a View with a vector(128) field and an int field `group` (0-9, so
// `where: group == 3` selects 10 %):
// - inserts/s: View.upsert of fresh entities, graph built as they arrive;
// - memory per vector: growth of the process's resident memory (V8 heap, ArrayBuffers and the
//   graph's native memory) while the view takes n vectors, entity keys and the view's own
//   entries included, against the raw 512 bytes of 128 float32;
// - recall@10 of `similar` against exact brute force (a scan of every vector, the same data,
//   the same float32 distances), unfiltered and with `where: group == 3`;
// - query latency (k = 10, one client, one query at a time) and queries/s against the exact
//   scan's queries/s in the same run;
// - at 1M: build, memory, recall on fewer queries, and the restore of a snapshot holding the
//   1M vectors (decode + graph rebuild), the time a restart spends on them.
import { heapUsed, mulberry32, percentiles, type BenchContext } from './lib.js';
import { VectorIndex } from '../../src/features/vectors/vector-index.js';
import { ViewStore } from '../../src/features/index.js';
import { SnapshotEncoder, parseSnapshot } from '../../src/durability/snapshot-format.js';
import { restoreStores, writeStores, type StoreSet } from '../../src/durability/store-codec.js';
import { FeatureStore } from '../../src/features/feature-store.js';
import { LeaderboardStore } from '../../src/leaderboard/index.js';
import { GeoStore } from '../../src/geo/index.js';

const DIMS = 128;
const CLUSTERS = 200;
/** Spread of a point around its cluster centre, per dimension (centres are N(0, 1)). */
const SPREAD = 0.35;
const K = 10;
const T = Date.UTC(2026, 10, 25);
const FIELDS = [
  { name: 'e', type: 'vector', dims: DIMS, metric: 'cosine' as const },
  { name: 'group', type: 'int' },
];

class Gaussian {
  private spare: number | undefined;
  constructor(private readonly rnd: () => number) {}
  next(): number {
    if (this.spare !== undefined) {
      const s = this.spare;
      this.spare = undefined;
      return s;
    }
    const u = 1 - this.rnd();
    const v = this.rnd();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }
}

/** A source of clustered points: fixed centres, each point a centre plus Gaussian noise, written into `out` at `at`. */
function clusteredData(seed: number): (out: Float32Array, at: number) => void {
  const g = new Gaussian(mulberry32(seed));
  const centres = Array.from({ length: CLUSTERS }, () => Array.from({ length: DIMS }, () => g.next()));
  const pick = mulberry32(seed + 1);
  return (out, at) => {
    const c = centres[Math.floor(pick() * CLUSTERS)];
    for (let i = 0; i < DIMS; i++) out[at + i] = c[i] + SPREAD * g.next();
  };
}

/** Resident memory after collecting garbage. */
function rss(): number {
  heapUsed();
  return process.memoryUsage().rss;
}

function stores(views: ViewStore): StoreSet {
  return { features: new FeatureStore([]), views, leaderboards: new LeaderboardStore(), geo: new GeoStore() };
}

export default async function (ctx: BenchContext): Promise<void> {
  ctx.note(
    `Data: ${CLUSTERS} Gaussian clusters in ${DIMS} dimensions (centres N(0,1), points centre + N(0,${SPREAD}) per dimension), float32, metric cosine; queries are fresh points of the same clusters. ` +
      'Tally = View.similar in-process (HNSW graph of USearch, M 12, 64 to 200 candidates by size, 8-bit copies for cosine, re-ranked exactly in float32); yardstick = exact brute force over the same float32 vectors in the same run. ' +
      'Memory = growth of resident memory (heap, ArrayBuffers, native graph) after garbage collection: per vector, while a vector field\'s index alone takes n vectors (the budget row); per entity, while the whole view takes them (entity keys, view entries and the int field included). At 1M both follow the 100k run in the same process, whose freed pages they may reuse.',
  );
  // TALLY_BENCH_VECTOR_SIZES=100000 runs one size only (a quick look while tuning).
  const sizes = (process.env.TALLY_BENCH_VECTOR_SIZES ?? '100000,1000000').split(',').map(Number);
  for (const n of sizes) {
    const label = n >= 1_000_000 ? `${n / 1_000_000}M` : `${n / 1000}k`;
    const fill = clusteredData(n);
    const next = () => {
      const v = new Float32Array(DIMS);
      fill(v, 0);
      return Array.from(v);
    };
    ctx.progress(`${label}: generating ${n} vectors`);
    // One buffer, no garbage: the memory measured next is the view's.
    const flat = new Float32Array(n * DIMS);
    for (let i = 0; i < n; i++) fill(flat, i * DIMS);
    const data = Array.from({ length: n }, (_, i) => flat.subarray(i * DIMS, (i + 1) * DIMS));
    // Memory is measured from here: what is left of generating the data is collected first.

    ctx.progress(`${label}: memory of the vectors alone`);
    // Kept until the view is measured too, so that the view does not reuse its pages.
    let alone: VectorIndex | undefined = new VectorIndex(DIMS, 'cosine');
    {
      const before = rss();
      for (let i = 0; i < n; i++) alone.add(`card-${i}`, data[i]);
      const bytes = (rss() - before) / n;
      ctx.record({ metric: `memory per vector at ${label}: the field's index (float32 vectors, graph, slots; raw 128 x float32 = 512 B)`, unit: 'B', tally: bytes, yardstick: 512, yardstickName: 'raw vector', higherIsBetter: false, budget: '<= 2x raw (1,024 B)', budgetAbs: 1024 });
    }
    ctx.progress(`${label}: inserting`);
    const before = rss();
    const views = new ViewStore([{ name: 'emb', fields: FIELDS }]);
    const view = views.view('emb');
    const t0 = performance.now();
    for (let i = 0; i < n; i++) view.upsert(`card-${i}`, { e: data[i], group: i % 10 }, T);
    const insertMs = performance.now() - t0;
    const bytes = (rss() - before) / n;
    ctx.record({ metric: `inserts/s at ${label} (graph built as they arrive)`, unit: 'inserts/s', tally: n / (insertMs / 1000), higherIsBetter: true });
    ctx.record({ metric: `memory per entity at ${label}: the whole view (vector field, an int field, key, entry)`, unit: 'B', tally: bytes, yardstick: 512, yardstickName: 'raw vector', higherIsBetter: false });
    if (alone.size !== n) throw new Error('lost vectors');
    alone = undefined;

    // The exact yardstick: a scan of the same vectors.
    const exact = new VectorIndex(DIMS, 'cosine', { bruteForceBelow: Number.POSITIVE_INFINITY });
    for (let i = 0; i < n; i++) exact.add(`card-${i}`, data[i]);
    const index = view.vectorIndex(view.indexOf('e'))!;
    if (!index.usesGraph) throw new Error('the view does not use its graph');

    const queries = Array.from({ length: n >= 1_000_000 ? 100 : 1_000 }, () => next());
    const truthQueries = queries.slice(0, n >= 1_000_000 ? 50 : 200);
    ctx.progress(`${label}: exact answers for ${truthQueries.length} queries`);
    const s0 = performance.now();
    const truth = truthQueries.map((q) => exact.search(q, K));
    const exactQps = truthQueries.length / ((performance.now() - s0) / 1000);
    const group3 = (slot: number) => Number(exact.entity(slot)!.slice(5)) % 10 === 3;
    const truthFiltered = truthQueries.map((q) => exact.search(q, K, group3));

    // A result as near as the true k-th counts (distances are the same float32 computation on both sides).
    const recall = (got: { distance: number }[][], want: { distance: number }[][]) => {
      let hit = 0;
      let all = 0;
      got.forEach((g, i) => {
        const kth = want[i][want[i].length - 1].distance;
        hit += g.filter((h) => h.distance <= kth + 1e-6).length;
        all += want[i].length;
      });
      return hit / all;
    };

    ctx.progress(`${label}: similar`);
    const answers = truthQueries.map((q) => view.similar({ field: 'e', k: K, vector: q }, T));
    ctx.record({ metric: `recall@10 at ${label}`, unit: '', tally: recall(answers, truth), higherIsBetter: true, budget: '>= 0.95', budgetAbs: 0.95 });
    const filtered = truthQueries.map((q) => view.similar({ field: 'e', k: K, vector: q, where: 'group == 3' }, T));
    ctx.record({ metric: `recall@10 at ${label}, where selecting 10 %`, unit: '', tally: recall(filtered, truthFiltered), higherIsBetter: true, budget: '>= 0.9', budgetAbs: 0.9 });

    const lat: number[] = [];
    for (let r = 0; r < 3; r++) {
      for (const q of queries) {
        const a = performance.now();
        view.similar({ field: 'e', k: K, vector: q }, T);
        lat.push(performance.now() - a);
      }
    }
    const p = percentiles(lat, [50, 99]);
    const qps = lat.length / (lat.reduce((s, x) => s + x, 0) / 1000);
    ctx.record({ metric: `query p50 at ${label} (k = 10, one client)`, unit: 'ms', tally: p.p50, higherIsBetter: false });
    ctx.record({ metric: `query p99 at ${label} (k = 10, one client)`, unit: 'ms', tally: p.p99, higherIsBetter: false, ...(n === 100_000 ? { budget: '<= 2 ms', budgetAbs: 2 } : {}) });
    ctx.record({
      metric: `queries/s at ${label} vs exact brute force`,
      unit: 'queries/s',
      tally: qps,
      yardstick: exactQps,
      yardstickName: 'exact scan',
      higherIsBetter: true,
      ...(n === 100_000 ? { budget: '>= 20x exact', budgetRatio: 20 } : {}),
    });
    const lf: number[] = [];
    for (const q of queries) {
      const a = performance.now();
      view.similar({ field: 'e', k: K, vector: q, where: 'group == 3' }, T);
      lf.push(performance.now() - a);
    }
    ctx.record({ metric: `query p99 at ${label} with where selecting 10 %`, unit: 'ms', tally: percentiles(lf, [99]).p99, higherIsBetter: false });

    if (n >= 1_000_000) {
      ctx.progress(`${label}: snapshot and restore`);
      const chunks: Buffer[] = [];
      const enc = new SnapshotEncoder(async (c) => void chunks.push(Buffer.from(c)));
      await enc.header(T);
      await writeStores(enc, stores(views));
      await enc.footer();
      const snapshot = Buffer.concat(chunks);
      const sections = parseSnapshot(snapshot).sections;
      const restored = new ViewStore([{ name: 'emb', fields: FIELDS }]);
      const r0 = performance.now();
      await restoreStores(sections, stores(restored));
      const restoreMs = performance.now() - r0;
      const rv = restored.view('emb');
      if (rv.size !== n || !rv.vectorIndex(rv.indexOf('e'))!.usesGraph) throw new Error('restore did not rebuild the graph');
      ctx.record({ metric: `restore of ${label} x ${DIMS} vectors from a snapshot (decode + graph rebuild)`, unit: 's', tally: restoreMs / 1000, higherIsBetter: false });
      ctx.note(`The ${label} snapshot section holds ${(snapshot.length / 1e6).toFixed(0)} MB (float32 vectors, keys, field times).`);
      const again = truthQueries.map((q) => rv.similar({ field: 'e', k: K, vector: q }, T));
      ctx.record({ metric: `recall@10 at ${label} after restore`, unit: '', tally: recall(again, truth), higherIsBetter: true });
    }
  }
}
