/*
 * DemoGenerator: synthetic but plausible events for the demo pipeline (pipelines/demo.yaml),
 * so a new user sees a living dashboard at once:
 *
 * - `transactions`: card payments (log-normal amounts, popular merchants more frequent), and
 *   every 30-60 s a fraudulent burst on one card — a card-testing run of small payments at
 *   many merchants, then large ones — that pushes `card_txn_count` past the alert threshold;
 * - `card_updates`: every card's profile first, then limit and risk changes, and the attacked
 *   card blocked shortly after its burst;
 * - `game_scores`: players of uneven skill and activity, so the leaderboards move;
 * - `driver_locations`: drivers moving between New York places (JFK, downtown Manhattan,
 *   Midtown, Brooklyn, ...) in time-lapse, crossing the `airport` and `downtown` fences.
 *
 * Plain TypeScript, no I/O, no timers: time is passed in and randomness is seeded, so the
 * same seed and clock give the same events (DemoRunner sends them).
 */
import { mulberry32 } from './random.js';

/** One event for one source; `key` is its entity (the Kafka message key). */
export interface DemoEvent {
  source: string;
  key: string;
  value: Record<string, unknown>;
}

export interface DemoOptions {
  seed?: number;
  cards?: number;
  merchants?: number;
  players?: number;
  drivers?: number;
  /** Card transactions per second (ordinary traffic, bursts come on top). */
  transactionsPerSecond?: number;
  scoresPerSecond?: number;
  /** Profile changes per second after the initial profiles. */
  cardUpdatesPerSecond?: number;
  /** How much faster than real drivers move (a time-lapse, so fences are crossed within minutes). */
  driverSpeedup?: number;
  /** How often each driver reports its position. */
  driverReportMs?: number;
}

const DEFAULTS: Required<DemoOptions> = {
  seed: 42,
  cards: 5_000,
  merchants: 400,
  players: 250,
  drivers: 60,
  transactionsPerSecond: 20,
  scoresPerSecond: 8,
  cardUpdatesPerSecond: 0.5,
  driverSpeedup: 6,
  driverReportMs: 1_000,
};

/** First burst soon after start, so the alert stream is not empty for long. */
const FIRST_BURST_MS = 8_000;
const BURST_GAP_MS: [number, number] = [30_000, 60_000];
/** A burst: this many payments over about 40 s (a 1-minute count of 12+, ordinary cards stay under 4). */
const BURST_SIZE: [number, number] = [12, 22];
const BURST_SPACING_MS: [number, number] = [1_200, 3_200];
/** The card system blocks an attacked card this long after the burst ends. */
const BLOCK_DELAY_MS = 10_000;
/** Out-of-order delivery: some events are stamped up to this much before they are sent (well inside the 30 s lateness). */
const MAX_JITTER_MS = 1_500;

/** Places drivers go to (lat, lon); `weight` is how often one is picked as the next stop. */
const PLACES: { name: string; lat: number; lon: number; weight: number }[] = [
  { name: 'JFK Terminal 4', lat: 40.6441, lon: -73.7822, weight: 5 },
  { name: 'JFK cargo area', lat: 40.6537, lon: -73.7706, weight: 2 },
  { name: 'Financial District', lat: 40.7075, lon: -74.0113, weight: 4 },
  { name: 'Tribeca', lat: 40.7163, lon: -74.0086, weight: 3 },
  { name: 'Lower East Side', lat: 40.7153, lon: -73.9846, weight: 3 },
  { name: 'SoHo', lat: 40.7233, lon: -74.003, weight: 3 },
  { name: 'Midtown', lat: 40.7549, lon: -73.984, weight: 4 },
  { name: 'Upper West Side', lat: 40.787, lon: -73.9754, weight: 2 },
  { name: 'Harlem', lat: 40.8116, lon: -73.9465, weight: 1 },
  { name: 'LaGuardia', lat: 40.7769, lon: -73.874, weight: 2 },
  { name: 'Long Island City', lat: 40.7447, lon: -73.9485, weight: 2 },
  { name: 'Williamsburg', lat: 40.7081, lon: -73.9571, weight: 2 },
  { name: 'Downtown Brooklyn', lat: 40.6928, lon: -73.9903, weight: 3 },
  { name: 'Park Slope', lat: 40.671, lon: -73.9814, weight: 1 },
  { name: 'Jamaica', lat: 40.7027, lon: -73.7889, weight: 2 },
  { name: 'Flushing', lat: 40.7675, lon: -73.833, weight: 1 },
];

const ADJECTIVES = ['swift', 'quiet', 'lucky', 'neon', 'brave', 'cosmic', 'iron', 'pixel', 'silent', 'frosty', 'rapid', 'shadow', 'golden', 'mighty', 'crimson', 'turbo'];
const NOUNS = ['fox', 'otter', 'falcon', 'comet', 'panda', 'wolf', 'raven', 'tiger', 'badger', 'lynx', 'gecko', 'yak', 'koala', 'viper', 'moose', 'heron'];
const COUNTRIES = ['US', 'US', 'US', 'US', 'CA', 'GB', 'FR', 'DE', 'BR', 'JP', 'MX'];
const CREDIT_LIMITS = [500, 1_000, 2_500, 5_000, 10_000, 25_000];

const pad = (n: number, width: number) => String(n).padStart(width, '0');
export const demoCardId = (i: number): string => `card-${pad(i, 4)}`;
export const demoMerchantId = (i: number): string => `m-${pad(i, 3)}`;
export const demoDriverId = (i: number): string => `driver-${pad(i, 2)}`;

interface Driver {
  id: string;
  lat: number;
  lon: number;
  target: { lat: number; lon: number };
  /** Metres per second, before the time-lapse factor. */
  speed: number;
  nextReport: number;
  /** Waiting at a stop (pickup/drop-off) until this time. */
  dwellUntil: number;
}

interface Burst {
  card: string;
  left: number;
  next: number;
  merchants: Set<string>;
}

export class DemoGenerator {
  private readonly o: Required<DemoOptions>;
  private readonly rand: () => number;
  private readonly merchantWeights: Float64Array;
  private readonly players: { id: string; skill: number; activity: number }[];
  private readonly playerWeights: Float64Array;
  private readonly placeWeights: Float64Array;
  private readonly drivers: Driver[] = [];
  private last: number | undefined;
  private carry = { transactions: 0, scores: 0, updates: 0 };
  private nextBurst = 0;
  private bursts: Burst[] = [];
  private blocks: { card: string; at: number }[] = [];

  constructor(options: DemoOptions = {}) {
    this.o = { ...DEFAULTS, ...options };
    this.rand = mulberry32(this.o.seed);
    // Merchant popularity ~ Zipf (1/rank^0.9): m-001 is the busiest.
    this.merchantWeights = cumulative(Array.from({ length: this.o.merchants }, (_, i) => 1 / (i + 1) ** 0.9));
    const handles = new Set<string>();
    this.players = [];
    while (this.players.length < this.o.players) {
      const id = `${this.pick(ADJECTIVES)}_${this.pick(NOUNS)}${handles.size % 3 === 0 ? '' : Math.floor(this.rand() * 99)}`;
      if (handles.has(id)) continue;
      handles.add(id);
      this.players.push({ id, skill: Math.exp(this.normal() * 0.45), activity: Math.exp(this.normal() * 0.8) });
    }
    this.playerWeights = cumulative(this.players.map((p) => p.activity));
    this.placeWeights = cumulative(PLACES.map((p) => p.weight));
  }

  /** What comes first at `now`: every card's profile, and each driver's first position. */
  start(now: number): DemoEvent[] {
    this.last = now;
    this.nextBurst = now + FIRST_BURST_MS;
    const events: DemoEvent[] = [];
    for (let i = 1; i <= this.o.cards; i++) {
      const card = demoCardId(i);
      events.push({
        source: 'card_updates',
        key: card,
        value: { card_id: card, credit_limit: this.pick(CREDIT_LIMITS), country: this.pick(COUNTRIES), risk_tier: this.rand() < 0.8 ? 1 : this.rand() < 0.7 ? 2 : 3, blocked: false, ts: now },
      });
    }
    for (let i = 1; i <= this.o.drivers; i++) {
      // already under way: somewhere between where it came from and where it goes
      const from = this.place(600);
      const target = this.place(400);
      const f = this.rand();
      const lat = from.lat + (target.lat - from.lat) * f;
      const lon = from.lon + (target.lon - from.lon) * f;
      const d: Driver = { id: demoDriverId(i), lat, lon, target, speed: 9 + this.rand() * 7, nextReport: now + this.rand() * this.o.driverReportMs, dwellUntil: 0 };
      this.drivers.push(d);
      events.push(this.position(d, now));
    }
    return events;
  }

  /** Events of the interval since the previous call (or start) up to `now`, in time order per source. */
  step(now: number): DemoEvent[] {
    if (this.last === undefined) return this.start(now);
    const from = this.last;
    const dt = Math.max(0, now - from);
    this.last = now;
    const events: DemoEvent[] = [];
    for (let n = this.count('transactions', this.o.transactionsPerSecond, dt); n > 0; n--) events.push(this.transaction(this.jittered(from, now)));
    this.bursty(now, events);
    for (let n = this.count('scores', this.o.scoresPerSecond, dt); n > 0; n--) events.push(this.score());
    for (let n = this.count('updates', this.o.cardUpdatesPerSecond, dt); n > 0; n--) events.push(this.profileChange(now));
    for (const b of this.blocks.filter((x) => x.at <= now)) {
      events.push({ source: 'card_updates', key: b.card, value: { card_id: b.card, blocked: true, risk_tier: 3, ts: b.at } });
    }
    this.blocks = this.blocks.filter((x) => x.at > now);
    for (const d of this.drivers) this.drive(d, from, now, events);
    return events;
  }

  private transaction(ts: number, card?: string, merchant?: string, amount?: number): DemoEvent {
    const card_id = card ?? demoCardId(1 + Math.floor(this.rand() * this.o.cards));
    const merchant_id = merchant ?? demoMerchantId(1 + search(this.merchantWeights, this.rand()));
    // Log-normal amounts: median about $28, a long tail of larger purchases.
    const value = amount ?? Math.exp(Math.log(28) + this.normal() * 0.9);
    return { source: 'transactions', key: card_id, value: { card_id, merchant_id, amount: Math.round(value * 100) / 100, ts: Math.round(ts) } };
  }

  /** Starts a burst when due and emits the payments of running ones. */
  private bursty(now: number, events: DemoEvent[]): void {
    if (now >= this.nextBurst) {
      this.bursts.push({ card: demoCardId(1 + Math.floor(this.rand() * this.o.cards)), left: this.between(BURST_SIZE), next: now, merchants: new Set() });
      this.nextBurst = now + this.between(BURST_GAP_MS);
    }
    for (const b of this.bursts) {
      while (b.left > 0 && b.next <= now) {
        // card testing: a few small payments first, then large ones, each at a new merchant
        let merchant: string;
        do merchant = demoMerchantId(1 + Math.floor(this.rand() * this.o.merchants));
        while (b.merchants.has(merchant) && b.merchants.size < this.o.merchants);
        b.merchants.add(merchant);
        const amount = b.merchants.size <= 4 ? 1 + this.rand() * 4 : 300 + this.rand() * 1_200;
        events.push(this.transaction(b.next, b.card, merchant, amount));
        b.left--;
        b.next += this.between(BURST_SPACING_MS);
        if (b.left === 0) this.blocks.push({ card: b.card, at: b.next + BLOCK_DELAY_MS });
      }
    }
    this.bursts = this.bursts.filter((b) => b.left > 0);
  }

  private score(): DemoEvent {
    const p = this.players[search(this.playerWeights, this.rand())];
    const points = Math.max(1, Math.round(p.skill * (40 + this.rand() * 260)));
    return { source: 'game_scores', key: p.id, value: { player_id: p.id, points } };
  }

  private profileChange(now: number): DemoEvent {
    const card_id = demoCardId(1 + Math.floor(this.rand() * this.o.cards));
    const value: Record<string, unknown> = { card_id, ts: now };
    if (this.rand() < 0.6) value.credit_limit = this.pick(CREDIT_LIMITS);
    else value.risk_tier = 1 + Math.floor(this.rand() * 3);
    return { source: 'card_updates', key: card_id, value };
  }

  /** Moves a driver toward its stop; reports its position every driverReportMs. */
  private drive(d: Driver, from: number, now: number, events: DemoEvent[]): void {
    while (d.nextReport <= now) {
      const t = Math.max(d.nextReport, from);
      if (t >= d.dwellUntil) {
        const step = d.speed * this.o.driverSpeedup * (this.o.driverReportMs / 1000);
        const dy = (d.target.lat - d.lat) * METERS_PER_DEGREE;
        const dx = (d.target.lon - d.lon) * METERS_PER_DEGREE * Math.cos((d.lat * Math.PI) / 180);
        const left = Math.hypot(dx, dy);
        if (left <= step) {
          d.lat = d.target.lat;
          d.lon = d.target.lon;
          d.target = this.place(400);
          d.dwellUntil = t + 2_000 + this.rand() * 6_000;
        } else {
          // a little wander across the straight line, as streets would
          const wobble = (this.rand() - 0.5) * 0.3;
          d.lat += ((dy + dx * wobble) / left) * (step / METERS_PER_DEGREE);
          d.lon += ((dx - dy * wobble) / left) * (step / (METERS_PER_DEGREE * Math.cos((d.lat * Math.PI) / 180)));
        }
      }
      events.push(this.position(d, Math.round(t)));
      d.nextReport += this.o.driverReportMs;
    }
  }

  private position(d: Driver, ts: number): DemoEvent {
    return { source: 'driver_locations', key: d.id, value: { driver_id: d.id, lat: round6(d.lat), lon: round6(d.lon), ts } };
  }

  /** A random place, moved up to `spreadMeters` from its centre. */
  private place(spreadMeters: number): { lat: number; lon: number } {
    const p = PLACES[search(this.placeWeights, this.rand())];
    const r = spreadMeters * Math.sqrt(this.rand());
    const a = this.rand() * Math.PI * 2;
    return { lat: p.lat + (r * Math.sin(a)) / METERS_PER_DEGREE, lon: p.lon + (r * Math.cos(a)) / (METERS_PER_DEGREE * Math.cos((p.lat * Math.PI) / 180)) };
  }

  /** Events due in `dt` ms at `perSecond`, carrying the fraction over to the next step. */
  private count(kind: keyof DemoGenerator['carry'], perSecond: number, dt: number): number {
    const expected = (perSecond * dt) / 1000 + this.carry[kind];
    // +-50% noise keeps the rate from looking like a metronome
    const n = Math.max(0, Math.floor(expected * (0.5 + this.rand())));
    this.carry[kind] = Math.max(0, expected - n);
    return n;
  }

  private jittered(from: number, now: number): number {
    const t = from + this.rand() * (now - from);
    return this.rand() < 0.1 ? t - this.rand() * MAX_JITTER_MS : t;
  }

  private between([lo, hi]: [number, number]): number {
    return Math.round(lo + this.rand() * (hi - lo));
  }

  private pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.rand() * xs.length)];
  }

  /** Standard normal (Box-Muller). */
  private normal(): number {
    return Math.sqrt(-2 * Math.log(1 - this.rand())) * Math.cos(2 * Math.PI * this.rand());
  }
}

const METERS_PER_DEGREE = 111_320;
const round6 = (x: number) => Math.round(x * 1e6) / 1e6;

function cumulative(weights: number[]): Float64Array {
  const out = new Float64Array(weights.length);
  let sum = 0;
  weights.forEach((w, i) => (out[i] = sum += w));
  for (let i = 0; i < out.length; i++) out[i] /= sum;
  return out;
}

/** The first index whose cumulative weight exceeds u (binary search). */
function search(cum: Float64Array, u: number): number {
  let lo = 0;
  let hi = cum.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (cum[mid] > u) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}
