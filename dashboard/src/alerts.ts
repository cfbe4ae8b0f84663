// The threshold-alert stream: one `featureThreshold` subscription per watched
// (feature, window, above); crossings are listed newest first. Clicking one charts that
// entity; with "chart new alerts" on, the latest alerting entities are charted by themselves.
import type { TallyApi } from './api.js';
import { fmtNumber, fmtTime, h, store, stored } from './dom.js';
import type { AlertSpec, ChartSpec, PipelineInfo } from './pipeline.js';

interface Crossing {
  name: string;
  entity: string;
  window: string;
  value: number;
  at: string;
}

const SUBSCRIPTION = /* GraphQL */ `
  subscription DashboardThreshold($name: String!, $window: String!, $above: Float!) {
    featureThreshold(name: $name, window: $window, above: $above) { name entity window value at }
  }
`;
const STORAGE_KEY = 'tally.alerts';
const AUTO_KEY = 'tally.autoChart';
const MAX_ITEMS = 100;

const keyOf = (a: AlertSpec) => `${a.feature}:${a.window}>${a.above}`;

export class Alerts {
  private readonly watches = new Map<string, { spec: AlertSpec; stop: () => void; chip: HTMLElement }>();
  private readonly chips: HTMLElement;
  private readonly list: HTMLOListElement;
  private readonly empty: HTMLElement;
  private readonly counter: HTMLElement;
  private count = 0;
  private autoChart: boolean;

  constructor(
    private readonly api: TallyApi,
    root: HTMLElement,
    private readonly pipeline: PipelineInfo,
    defaults: AlertSpec[],
    private readonly chart: (spec: ChartSpec, auto: boolean) => void,
    private readonly onError: (message: string) => void,
  ) {
    this.autoChart = stored(AUTO_KEY, true);
    this.chips = h('div', { class: 'chips' });
    this.list = h('ol', { class: 'alerts', 'data-testid': 'alerts' });
    this.empty = h('p', { class: 'muted empty' }, 'No crossing yet.');
    this.counter = h('span', { class: 'tag', 'data-testid': 'alert-count' }, '0');
    const auto = h('input', { type: 'checkbox', checked: this.autoChart });
    auto.addEventListener('change', () => store(AUTO_KEY, (this.autoChart = auto.checked)));
    root.querySelector('h2')?.append(' ', this.counter);
    root.append(this.form(), this.chips, h('label', { class: 'muted small check' }, auto, ' chart new alerting entities'), this.empty, this.list);
    for (const spec of stored<AlertSpec[]>(STORAGE_KEY, defaults)) this.watch(spec, false);
  }

  watch(spec: AlertSpec, save = true): void {
    const key = keyOf(spec);
    if (this.watches.has(key)) return;
    const chip = h(
      'span',
      { class: 'chip' },
      `${spec.feature} · ${spec.window} > ${fmtNumber(spec.above)}`,
      h('button', { class: 'icon', title: 'Stop watching', 'aria-label': 'stop watching', onclick: () => this.unwatch(spec) }, '×'),
    );
    const stop = this.api.subscribe<{ featureThreshold: Crossing }>(
      SUBSCRIPTION,
      { name: spec.feature, window: spec.window, above: spec.above },
      (d) => this.add(d.featureThreshold),
      (m) => this.onError(`alert ${key}: ${m}`),
    );
    this.watches.set(key, { spec, stop, chip });
    this.chips.append(chip);
    if (save) this.save();
  }

  private unwatch(spec: AlertSpec): void {
    const w = this.watches.get(keyOf(spec));
    w?.stop();
    w?.chip.remove();
    this.watches.delete(keyOf(spec));
    this.save();
  }

  private save(): void {
    store(STORAGE_KEY, [...this.watches.values()].map((w) => w.spec));
  }

  private add(c: Crossing): void {
    const spec: ChartSpec = { feature: c.name, window: c.window, entity: c.entity };
    const li = h(
      'li',
      { class: 'alert enter', title: 'Chart this entity', onclick: () => this.chart(spec, false) },
      h('time', {}, fmtTime(c.at)),
      h('span', { class: 'entity' }, c.entity),
      h('span', { class: 'what muted' }, `${c.name} · ${c.window}`),
      h('span', { class: 'alert-value' }, fmtNumber(c.value)),
    );
    this.list.prepend(li);
    while (this.list.children.length > MAX_ITEMS) this.list.lastElementChild?.remove();
    this.counter.textContent = String(++this.count);
    this.empty.hidden = true;
    if (this.autoChart) this.chart(spec, true);
  }

  private form(): HTMLElement {
    const feature = h('select', { 'aria-label': 'feature' }, ...this.pipeline.features.map((f) => h('option', { value: f.name }, f.name)));
    const windowSel = h('select', { 'aria-label': 'window' });
    const above = h('input', { type: 'number', step: 'any', placeholder: 'above', 'aria-label': 'above', required: true, class: 'narrow' });
    const fill = () => {
      const f = this.pipeline.features.find((x) => x.name === feature.value);
      windowSel.replaceChildren(...(f?.windows ?? []).map((w) => h('option', { value: w }, w)));
    };
    feature.addEventListener('change', fill);
    fill();
    const form = h('form', { class: 'inline-form' }, feature, windowSel, above, h('button', { type: 'submit' }, 'Watch'));
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      const n = Number(above.value);
      if (!feature.value || !windowSel.value || above.value === '' || !Number.isFinite(n)) return;
      this.watch({ feature: feature.value, window: windowSel.value, above: n });
      above.value = '';
    });
    if (this.pipeline.features.length === 0) form.hidden = true;
    return form;
  }
}
