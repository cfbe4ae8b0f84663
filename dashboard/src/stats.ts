// Ingest rate, accepted and refused events, consumer lag: the `stats` query polled once a
// second; rates are differences between polls.
import type { TallyApi } from './api.js';
import { fmtNumber, fmtRate, h } from './dom.js';
import { drawSparkline } from './sparkline.js';

interface Stats {
  mode: string;
  status: string;
  kafkaConnected: boolean | null;
  uptimeSeconds: number;
  eventsAccepted: number;
  eventsRejected: number;
  consumerLag: number | null;
  sources: { source: string; accepted: number; rejected: number; rejectedByReason: { reason: string; count: number }[] }[];
  partitions: { topic: string; partition: number; lag: number }[];
  asOf: string;
}

const STATS_QUERY = /* GraphQL */ `
  query DashboardStats {
    stats {
      mode status kafkaConnected uptimeSeconds eventsAccepted eventsRejected consumerLag asOf
      sources { source accepted rejected rejectedByReason { reason count } }
      partitions { topic partition lag }
    }
  }
`;

const POLL_MS = 1_000;
const SPAN_MS = 2 * 60_000;
const MIN_SPAN_MS = 20_000;

interface Tile {
  root: HTMLElement;
  value: HTMLElement;
  note: HTMLElement;
  canvas?: HTMLCanvasElement;
}

export class StatsPanel {
  private readonly tiles: Record<'rate' | 'accepted' | 'rejected' | 'lag', Tile>;
  private readonly sources: HTMLElement;
  private readonly rate: [number, number | null][] = [];
  private readonly refusals: [number, number | null][] = [];
  private readonly lag: [number, number | null][] = [];
  private previous: { at: number; accepted: number; rejected: number } | undefined;
  private timer: number | undefined;

  constructor(
    private readonly api: TallyApi,
    root: HTMLElement,
    private readonly onMode: (mode: string, status: string, uptime: number) => void,
    private readonly onError: (message: string) => void,
  ) {
    this.tiles = {
      rate: tile('rate', 'Ingest rate', true),
      accepted: tile('accepted', 'Events accepted', false),
      rejected: tile('rejected', 'Rejected', true),
      lag: tile('lag', 'Consumer lag', true),
    };
    this.sources = h('div', { class: 'sources', 'data-testid': 'stat-sources' });
    root.append(...Object.values(this.tiles).map((t) => t.root), this.sources);
  }

  start(): void {
    const tick = async () => {
      try {
        const { stats } = await this.api.query<{ stats: Stats }>(STATS_QUERY);
        this.render(stats);
      } catch (err) {
        this.onError((err as Error).message);
      }
      this.timer = window.setTimeout(tick, POLL_MS);
    };
    void tick();
  }

  stop(): void {
    window.clearTimeout(this.timer);
  }

  private render(s: Stats): void {
    const now = Date.now();
    if (this.previous) {
      const dt = Math.max(0.001, (now - this.previous.at) / 1000);
      push(this.rate, now, Math.max(0, (s.eventsAccepted - this.previous.accepted) / dt));
      push(this.refusals, now, Math.max(0, (s.eventsRejected - this.previous.rejected) / dt));
    }
    this.previous = { at: now, accepted: s.eventsAccepted, rejected: s.eventsRejected };
    push(this.lag, now, s.consumerLag);

    const rate = this.rate.at(-1)?.[1] ?? 0;
    set(this.tiles.rate, fmtRate(rate), 'events/s', this.rate, now, '#5eead4');
    const top = s.sources.filter((x) => x.accepted > 0).sort((a, b) => b.accepted - a.accepted)[0];
    set(this.tiles.accepted, fmtNumber(s.eventsAccepted), top ? `most from ${top.source}` : 'none yet');
    const reasons = new Map<string, number>();
    for (const src of s.sources) for (const r of src.rejectedByReason) reasons.set(r.reason, (reasons.get(r.reason) ?? 0) + r.count);
    const topReason = [...reasons].sort((a, b) => b[1] - a[1])[0];
    set(this.tiles.rejected, fmtNumber(s.eventsRejected), topReason ? `${fmtRate(this.refusals.at(-1)?.[1] ?? 0)}/s · mostly ${topReason[0]}` : 'none', this.refusals, now, '#f87171');
    this.tiles.rejected.root.classList.toggle('bad', (this.refusals.at(-1)?.[1] ?? 0) > 0);
    if (s.consumerLag === null) set(this.tiles.lag, '—', 'embedded mode: no Kafka', this.lag, now, '#fbbf24');
    else set(this.tiles.lag, fmtNumber(s.consumerLag), `${s.partitions.length} partitions${s.kafkaConnected ? '' : ' · consumer stopped'}`, this.lag, now, '#fbbf24');

    this.sources.replaceChildren(
      ...s.sources.map((src) =>
        h(
          'span',
          { class: 'source', 'data-source': src.source, title: src.rejectedByReason.map((r) => `${r.reason}: ${r.count}`).join('\n') || 'no refusals' },
          h('b', {}, src.source),
          ` ${fmtNumber(src.accepted)}`,
          src.rejected > 0 ? h('span', { class: 'rej' }, ` ✕ ${fmtNumber(src.rejected)}`) : null,
        ),
      ),
    );
    this.onMode(s.mode, s.status, s.uptimeSeconds);
  }
}

function tile(id: string, label: string, chart: boolean): Tile {
  const value = h('div', { class: 'value', 'data-testid': `stat-${id}` }, '—');
  const note = h('div', { class: 'note' });
  const canvas = chart ? h('canvas', { class: 'spark' }) : undefined;
  const root = h('div', { class: `tile tile-${id}` }, h('div', { class: 'label' }, label), value, note, canvas);
  return { root, value, note, canvas };
}

function set(t: Tile, value: string, note: string, series?: [number, number | null][], now?: number, color?: string): void {
  if (t.value.textContent !== value) {
    t.value.textContent = value;
    t.value.classList.remove('tick');
    void t.value.offsetWidth; // restart the highlight animation
    t.value.classList.add('tick');
  }
  t.note.textContent = note;
  if (t.canvas && series && now && color) {
    const span = Math.min(SPAN_MS, Math.max(MIN_SPAN_MS, now - (series[0]?.[0] ?? now)));
    drawSparkline(t.canvas, series, now, { spanMs: span, color, fromZero: true });
  }
}

function push(series: [number, number | null][], t: number, v: number | null): void {
  series.push([t, v]);
  while (series.length > 0 && series[0][0] < t - SPAN_MS * 1.1) series.shift();
}

