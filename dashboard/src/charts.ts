// Chosen entities' windowed values as small time charts: each chart reads the value once (and
// again after a reconnection, for what it missed), then follows `featureUpdated`, which pushes
// as tiles leave the window too, so a window that drains without new events is drawn going down.
import type { TallyApi } from './api.js';
import { fmtNumber, fmtTime, h, store, stored } from './dom.js';
import type { ChartSpec, PipelineInfo } from './pipeline.js';
import { drawSparkline } from './sparkline.js';

interface FeatureValue {
  value: number | null;
  asOf: string;
  lastEventAt: string | null;
}

const READ = /* GraphQL */ `
  query DashboardFeature($name: String!, $entity: String!, $window: String!) {
    feature(name: $name, entity: $entity, window: $window) { value asOf lastEventAt }
  }
`;
const UPDATED = /* GraphQL */ `
  subscription DashboardFeatureUpdated($name: String!, $entity: String!, $window: String!) {
    featureUpdated(name: $name, entity: $entity, window: $window) { value asOf lastEventAt }
  }
`;

const SPAN_MS = 5 * 60_000;
const MIN_SPAN_MS = 30_000;
const STORAGE_KEY = 'tally.charts';
/** Charts added from alerts, beyond which the oldest of them makes room. */
const MAX_AUTO_CHARTS = 3;
const COLORS = ['#60a5fa', '#5eead4', '#c084fc', '#fbbf24', '#f472b6', '#a3e635'];

const keyOf = (c: ChartSpec) => `${c.feature}:${c.window}:${c.entity}`;

class Chart {
  readonly root: HTMLElement;
  private readonly value: HTMLElement;
  private readonly note: HTMLElement;
  private readonly canvas: HTMLCanvasElement;
  private readonly points: [number, number | null][] = [];
  private readonly stop: () => void;
  private readonly stopReconnectRead: () => void;

  constructor(
    private readonly api: TallyApi,
    readonly spec: ChartSpec,
    readonly auto: boolean,
    private readonly color: string,
    onRemove: () => void,
    private readonly onError: (message: string) => void,
  ) {
    this.value = h('div', { class: 'chart-value', 'data-testid': 'chart-value' }, '—');
    this.note = h('div', { class: 'muted small' }, 'no event yet');
    this.canvas = h('canvas', { class: 'chart-canvas' });
    this.root = h(
      'article',
      { class: `card chart${auto ? ' auto' : ''}`, 'data-chart': keyOf(spec) },
      h(
        'header',
        {},
        h('h3', { title: `${spec.feature} over ${spec.window} for ${spec.entity}` }, h('span', { class: 'entity' }, spec.entity)),
        h('span', { class: 'tag' }, `${spec.feature} · ${spec.window}`),
        h('button', { class: 'icon', title: 'Remove this chart', 'aria-label': 'remove chart', onclick: onRemove }, '×'),
      ),
      h('div', { class: 'chart-body' }, this.value, this.canvas),
      this.note,
    );
    const vars = { name: spec.feature, entity: spec.entity, window: spec.window };
    this.stop = api.subscribe<{ featureUpdated: FeatureValue }>(UPDATED, vars, (d) => this.add(d.featureUpdated), (m) => onError(`chart ${keyOf(spec)}: ${m}`));
    void this.read();
    this.stopReconnectRead = api.onConnection((state) => {
      if (state === 'connected') void this.read();
    });
  }

  private async read(): Promise<void> {
    try {
      const d = await this.api.query<{ feature: FeatureValue }>(READ, { name: this.spec.feature, entity: this.spec.entity, window: this.spec.window });
      this.add(d.feature);
    } catch (err) {
      this.onError(`chart ${keyOf(this.spec)}: ${(err as Error).message}`);
    }
  }

  private add(v: FeatureValue): void {
    const t = Date.parse(v.asOf);
    this.points.push([t, v.value]);
    this.points.sort((a, b) => a[0] - b[0]);
    while (this.points.length > 0 && this.points[0][0] < t - SPAN_MS * 1.2) this.points.shift();
    this.value.textContent = fmtNumber(v.value);
    this.root.dataset.value = v.value === null ? '' : String(v.value);
    this.note.textContent = v.lastEventAt ? `last event ${fmtTime(v.lastEventAt)}` : 'no event yet';
    this.draw();
  }

  draw(): void {
    // The time axis grows with the data, up to SPAN_MS: a new chart is not a spike at the right edge.
    const now = Date.now();
    const span = Math.min(SPAN_MS, Math.max(MIN_SPAN_MS, now - (this.points[0]?.[0] ?? now)));
    drawSparkline(this.canvas, this.points, now, { spanMs: span, color: this.color, fromZero: true });
  }

  dispose(): void {
    this.stop();
    this.stopReconnectRead();
    this.root.remove();
  }
}

export class Charts {
  private readonly charts = new Map<string, Chart>();
  private readonly grid: HTMLElement;
  private readonly empty: HTMLElement;
  private colorIndex = 0;

  constructor(
    private readonly api: TallyApi,
    root: HTMLElement,
    private readonly pipeline: PipelineInfo,
    defaults: ChartSpec[],
    private readonly onError: (message: string) => void,
  ) {
    this.grid = h('div', { class: 'charts', 'data-testid': 'charts' });
    this.empty = h('p', { class: 'muted empty' }, 'Add a chart: pick a feature, a window and an entity.');
    root.append(this.form(), this.empty, this.grid);
    for (const spec of stored<ChartSpec[]>(STORAGE_KEY, defaults)) this.add(spec, false, false);
    this.sync();
    window.setInterval(() => this.charts.forEach((c) => c.draw()), 1_000);
  }

  /** Adds a chart (an `auto` one comes from an alert and may be replaced by newer ones). */
  add(spec: ChartSpec, auto = false, save = true): void {
    if (this.charts.has(keyOf(spec))) return;
    if (auto) {
      const autos = [...this.charts.values()].filter((c) => c.auto);
      if (autos.length >= MAX_AUTO_CHARTS) this.remove(autos[0].spec);
    }
    const color = COLORS[this.colorIndex++ % COLORS.length];
    const chart = new Chart(this.api, spec, auto, color, () => this.remove(spec), this.onError);
    this.charts.set(keyOf(spec), chart);
    this.grid.prepend(chart.root);
    if (save) this.save();
    this.sync();
  }

  remove(spec: ChartSpec): void {
    this.charts.get(keyOf(spec))?.dispose();
    this.charts.delete(keyOf(spec));
    this.save();
    this.sync();
  }

  private save(): void {
    store(STORAGE_KEY, [...this.charts.values()].filter((c) => !c.auto).map((c) => c.spec).reverse());
  }

  private sync(): void {
    this.empty.hidden = this.charts.size > 0;
  }

  private form(): HTMLElement {
    const feature = h('select', { 'aria-label': 'feature' }, ...this.pipeline.features.map((f) => h('option', { value: f.name }, f.name)));
    const windowSel = h('select', { 'aria-label': 'window' });
    const entity = h('input', { type: 'text', placeholder: 'entity (e.g. card-0042)', 'aria-label': 'entity', required: true });
    const fillWindows = () => {
      const f = this.pipeline.features.find((x) => x.name === feature.value);
      windowSel.replaceChildren(...(f?.windows ?? []).map((w) => h('option', { value: w }, w)));
      entity.placeholder = f ? `${f.entity} (entity)` : 'entity';
    };
    feature.addEventListener('change', fillWindows);
    fillWindows();
    const form = h('form', { class: 'inline-form' }, feature, windowSel, entity, h('button', { type: 'submit' }, 'Add chart'));
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      const value = entity.value.trim();
      if (!value || !feature.value || !windowSel.value) return;
      this.add({ feature: feature.value, window: windowSel.value, entity: value });
      entity.value = '';
    });
    if (this.pipeline.features.length === 0) form.hidden = true;
    return form;
  }
}
