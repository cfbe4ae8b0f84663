// A map of one geo index on a canvas, with no tiles: a lat/lon grid, the index's fences
// (circles and polygons, from the `pipeline` query), its members with short trails, and
// enter/exit pulses from `geofenceEvents`. Members come from the live `geoWithin` feed of a
// circle around the area shown (no polling): an `enter` for each member inside when it
// subscribes, then each enter, move and exit. The circle starts around the fences (or the
// whole world when there are none) and follows the view when a pan or zoom leaves it; after a
// reconnection the feed starts over with its enters. Projection: equirectangular around the
// view's centre (x scaled by cos(lat)), which is faithful enough at city scale. Wheel zooms,
// drag pans, double-click fits the data again.
import type { TallyApi } from './api.js';
import { fitCanvas, fmtNumber, fmtTime, h } from './dom.js';
import type { FenceInfo, GeoIndexInfo } from './pipeline.js';

interface Hit {
  member: string;
  lat: number;
  lon: number;
}

interface WithinEvent extends Hit {
  kind: 'enter' | 'move' | 'exit';
}

interface Circle {
  lat: number;
  lon: number;
  radiusMeters: number;
}

interface FenceEvent {
  fence: string;
  member: string;
  kind: 'enter' | 'exit';
  lat: number;
  lon: number;
  at: string;
}

interface View {
  lat: number;
  lon: number;
  /** Degrees of latitude per CSS pixel. */
  scale: number;
}

const WITHIN = /* GraphQL */ `
  subscription DashboardMembers($index: String!, $lat: Float!, $lon: Float!, $radiusMeters: Float!) {
    geoWithin(index: $index, lat: $lat, lon: $lon, radiusMeters: $radiusMeters) { member kind lat lon }
  }
`;
const FENCE_EVENTS = /* GraphQL */ `
  subscription DashboardFenceEvents($index: String!) {
    geofenceEvents(index: $index) { fence member kind lat lon at }
  }
`;

/** The first circle reaches this many times the fences' half-diagonal, and at least MIN_RADIUS_METERS. */
const FENCE_REACH = 4;
const MIN_RADIUS_METERS = 20_000;
/** Any point of the Earth is within half its circumference (the API's largest radius). */
const WORLD_RADIUS_METERS = 20_037_508;
/** A circle followed after a pan or zoom reaches this many times the view's half-diagonal. */
const VIEW_REACH = 2;
/** Quiet time after a pan or zoom before the circle follows the view. */
const FOLLOW_MS = 400;
const TRAIL = 8;
const PULSE_MS = 2_000;
const METERS_PER_DEGREE = 111_320;
const FENCE_COLORS = ['#fbbf24', '#c084fc', '#5eead4', '#f472b6', '#a3e635'];
const GRID_STEPS = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 45];

export class GeoMap {
  private readonly canvas: HTMLCanvasElement;
  private readonly legend: HTMLElement;
  private readonly events: HTMLOListElement;
  private readonly box: HTMLElement;
  private index: GeoIndexInfo | undefined;
  private readonly points = new Map<string, Hit>();
  private readonly trails = new Map<string, [number, number][]>();
  private readonly pulses: (FenceEvent & { t: number })[] = [];
  private readonly entries = new Map<string, number>();
  private view: View | undefined;
  private manual = false;
  private stopEvents: () => void = () => {};
  private stopWithin: () => void = () => {};
  private circle: Circle | undefined;
  private follow: number | undefined;
  /** Something changed since the last frame (pulses animate on their own). */
  private dirty = true;
  /** Members changed since the last frame: the legend and (unless the user moved the view) the framing follow. */
  private changed = false;

  constructor(
    private readonly api: TallyApi,
    root: HTMLElement,
    private readonly indexes: GeoIndexInfo[],
    private readonly onError: (message: string) => void,
  ) {
    const select = h('select', { 'aria-label': 'geo index' }, ...indexes.map((g) => h('option', { value: g.name }, g.name)));
    select.addEventListener('change', () => this.show(select.value));
    root.querySelector('h2')?.append(' ', select);
    if (indexes.length < 2) select.hidden = true;
    this.canvas = h('canvas', { class: 'map-canvas' });
    this.legend = h('div', { class: 'map-legend' });
    this.box = h('div', { class: 'map', 'data-testid': 'map', 'data-points': '0' }, this.canvas, h('button', { class: 'fit', title: 'Fit the fences and members', onclick: () => this.fit(true) }, 'Fit'));
    this.events = h('ol', { class: 'fence-events', 'data-testid': 'fence-events' });
    root.append(this.box, this.legend, h('h4', {}, 'Fence events'), this.events);
    if (indexes.length === 0) {
      this.box.replaceChildren(h('p', { class: 'muted empty' }, 'The pipeline declares no geo index.'));
      return;
    }
    this.interact();
    this.show(indexes[0].name);
    // A reconnected feed starts over with an enter for each member inside.
    api.onConnection((state) => {
      if (state === 'connected') this.clearPoints();
    });
    const loop = () => {
      if (this.changed) {
        this.changed = false;
        if (!this.manual) this.fit(false);
        this.renderLegend();
      }
      if (this.dirty || this.pulses.length > 0) this.draw();
      this.dirty = false;
      requestAnimationFrame(loop);
    };
    requestAnimationFrame(loop);
    new ResizeObserver(() => (this.dirty = true)).observe(this.canvas);
  }

  private show(name: string): void {
    this.index = this.indexes.find((g) => g.name === name);
    this.clearPoints();
    this.entries.clear();
    this.events.replaceChildren();
    this.manual = false;
    this.view = undefined;
    this.stopEvents();
    this.stopEvents = this.api.subscribe<{ geofenceEvents: FenceEvent }>(FENCE_EVENTS, { index: name }, (d) => this.fenceEvent(d.geofenceEvents), (m) => this.onError(`fence events: ${m}`));
    const index = this.index;
    if (index) this.watch(this.fenceCircle(index) ?? { lat: 0, lon: 0, radiusMeters: WORLD_RADIUS_METERS });
  }

  /** Follows the members inside `circle` (geoWithin) instead of the circle followed so far. */
  private watch(circle: Circle): void {
    const index = this.index;
    if (!index) return;
    this.stopWithin();
    this.clearPoints();
    this.circle = circle;
    this.box.dataset.circle = `${circle.lat.toFixed(5)} ${circle.lon.toFixed(5)} ${Math.round(circle.radiusMeters)}`;
    this.stopWithin = this.api.subscribe<{ geoWithin: WithinEvent }>(
      WITHIN,
      { index: index.name, ...circle },
      (d) => {
        if (index === this.index && circle === this.circle) this.member(d.geoWithin);
      },
      (m) => this.onError(`map: ${m}`),
    );
  }

  private clearPoints(): void {
    this.points.clear();
    this.trails.clear();
    this.box.dataset.points = '0';
    this.dirty = true;
  }

  private member(e: WithinEvent): void {
    if (e.kind === 'exit') {
      this.points.delete(e.member);
      this.trails.delete(e.member);
    } else {
      this.points.set(e.member, { member: e.member, lat: e.lat, lon: e.lon });
      const trail = this.trails.get(e.member) ?? [];
      const last = trail.at(-1);
      if (!last || last[0] !== e.lat || last[1] !== e.lon) trail.push([e.lat, e.lon]);
      if (trail.length > TRAIL) trail.shift();
      this.trails.set(e.member, trail);
    }
    this.box.dataset.points = String(this.points.size);
    this.box.dataset.lastMove = `${e.member} ${e.kind} ${e.lat} ${e.lon}`;
    this.changed = true;
    this.dirty = true;
  }

  /** After a pan or zoom: once it rests, follows a circle around the view if the view left the one followed. */
  private viewMoved(): void {
    window.clearTimeout(this.follow);
    this.follow = window.setTimeout(() => {
      const v = this.view;
      const c = this.circle;
      if (!v) return;
      const [top, left] = this.unproject(0, 0);
      const reach = haversineMeters(v.lat, v.lon, top, left);
      if (c && haversineMeters(c.lat, c.lon, v.lat, v.lon) + reach <= c.radiusMeters) return;
      this.watch({ lat: v.lat, lon: v.lon, radiusMeters: Math.min(WORLD_RADIUS_METERS, Math.max(MIN_RADIUS_METERS, reach * VIEW_REACH)) });
    }, FOLLOW_MS);
  }

  private fenceEvent(e: FenceEvent): void {
    this.pulses.push({ ...e, t: performance.now() });
    this.dirty = true;
    if (e.kind === 'enter') this.entries.set(e.fence, (this.entries.get(e.fence) ?? 0) + 1);
    const li = h('li', { class: `fence-event ${e.kind}` }, h('time', {}, fmtTime(e.at)), h('span', { class: 'entity' }, e.member), ` ${e.kind === 'enter' ? 'entered' : 'left'} `, h('b', {}, e.fence));
    this.events.prepend(li);
    while (this.events.children.length > 30) this.events.lastElementChild?.remove();
    this.renderLegend();
  }

  private renderLegend(): void {
    const index = this.index;
    if (!index) return;
    this.legend.replaceChildren(
      h('span', {}, h('i', { class: 'dot member' }), `${fmtNumber(this.points.size)} members`),
      ...index.fences.map((f, i) =>
        h('span', {}, h('i', { class: 'dot', style: `background:${FENCE_COLORS[i % FENCE_COLORS.length]}` }), `${f.name}`, h('span', { class: 'muted' }, ` ${this.inside(f)} inside · ${this.entries.get(f.name) ?? 0} entered`)),
      ),
    );
  }

  private inside(f: FenceInfo): number {
    let n = 0;
    for (const p of this.points.values()) if (contains(f, p.lat, p.lon)) n++;
    return n;
  }

  /** A circle around the fences, FENCE_REACH times wider (where their members are expected), or undefined without fences. */
  private fenceCircle(index: GeoIndexInfo): Circle | undefined {
    const b = bounds(index.fences.flatMap(fenceOutline));
    if (!b) return undefined;
    const lat = (b.minLat + b.maxLat) / 2;
    const lon = (b.minLon + b.maxLon) / 2;
    const reach = haversineMeters(lat, lon, b.maxLat, b.maxLon) * FENCE_REACH;
    return { lat, lon, radiusMeters: Math.min(WORLD_RADIUS_METERS, Math.max(MIN_RADIUS_METERS, reach)) };
  }

  /** Frames the fences and the members (or keeps the user's view unless `force`). */
  private fit(force: boolean): void {
    if (force) this.manual = false;
    const index = this.index;
    if (!index) return;
    const b = bounds([...index.fences.flatMap(fenceOutline), ...[...this.points.values()].map((p) => [p.lat, p.lon] as [number, number])]);
    if (!b) return;
    // In auto mode the view only changes when something would fall outside it, so it stays still.
    if (!force && this.view && this.covers(b)) return;
    const width = this.canvas.clientWidth || 400;
    const height = this.canvas.clientHeight || 300;
    const lat = (b.minLat + b.maxLat) / 2;
    const lon = (b.minLon + b.maxLon) / 2;
    const k = Math.cos((lat * Math.PI) / 180);
    const spanLat = Math.max(b.maxLat - b.minLat, 0.005);
    const spanLon = Math.max(b.maxLon - b.minLon, 0.005) * k;
    const scale = Math.max(spanLat / height, spanLon / width) * 1.3;
    this.view = { lat, lon, scale };
    this.dirty = true;
  }

  private covers(b: { minLat: number; maxLat: number; minLon: number; maxLon: number }): boolean {
    const [x0, y0] = this.project(b.maxLat, b.minLon);
    const [x1, y1] = this.project(b.minLat, b.maxLon);
    const m = 8;
    return x0 >= m && y0 >= m && x1 <= this.canvas.clientWidth - m && y1 <= this.canvas.clientHeight - m;
  }

  private interact(): void {
    let drag: { x: number; y: number; view: View } | undefined;
    this.canvas.addEventListener('wheel', (e) => {
      if (!this.view) return;
      e.preventDefault();
      const factor = Math.exp(e.deltaY * 0.0015);
      const r = this.canvas.getBoundingClientRect();
      const [lat, lon] = this.unproject(e.clientX - r.left, e.clientY - r.top);
      const v = this.view;
      const scale = v.scale * factor;
      // keep the point under the cursor in place
      this.view = { scale, lat: lat + (v.lat - lat) * factor, lon: lon + (v.lon - lon) * factor };
      this.manual = true;
      this.dirty = true;
      this.viewMoved();
    });
    this.canvas.addEventListener('pointerdown', (e) => {
      if (!this.view) return;
      drag = { x: e.clientX, y: e.clientY, view: this.view };
      this.canvas.setPointerCapture(e.pointerId);
    });
    this.canvas.addEventListener('pointermove', (e) => {
      if (!drag) return;
      const k = Math.cos((drag.view.lat * Math.PI) / 180);
      this.view = { scale: drag.view.scale, lat: drag.view.lat + (e.clientY - drag.y) * drag.view.scale, lon: drag.view.lon - ((e.clientX - drag.x) * drag.view.scale) / k };
      this.manual = true;
      this.dirty = true;
    });
    this.canvas.addEventListener('pointerup', () => {
      if (drag) this.viewMoved();
      drag = undefined;
    });
    this.canvas.addEventListener('dblclick', () => this.fit(true));
  }

  private project(lat: number, lon: number): [number, number] {
    const v = this.view!;
    const k = Math.cos((v.lat * Math.PI) / 180);
    return [this.canvas.clientWidth / 2 + ((lon - v.lon) * k) / v.scale, this.canvas.clientHeight / 2 - (lat - v.lat) / v.scale];
  }

  private unproject(x: number, y: number): [number, number] {
    const v = this.view!;
    const k = Math.cos((v.lat * Math.PI) / 180);
    return [v.lat - (y - this.canvas.clientHeight / 2) * v.scale, v.lon + ((x - this.canvas.clientWidth / 2) * v.scale) / k];
  }

  private draw(): void {
    const { ctx, width, height } = fitCanvas(this.canvas);
    const index = this.index;
    if (!index || !this.view) {
      ctx.fillStyle = '#8b93a7';
      ctx.font = '13px system-ui, sans-serif';
      ctx.fillText('waiting for members…', 12, 22);
      return;
    }
    this.drawGrid(ctx, width, height);
    index.fences.forEach((f, i) => this.drawFence(ctx, f, FENCE_COLORS[i % FENCE_COLORS.length]));
    // trails, then members: inside a fence in the fence's colour
    ctx.lineWidth = 1;
    for (const trail of this.trails.values()) {
      if (trail.length < 2) continue;
      ctx.beginPath();
      trail.forEach(([lat, lon], i) => {
        const [x, y] = this.project(lat, lon);
        if (i === 0) ctx.moveTo(x, y);
        else ctx.lineTo(x, y);
      });
      ctx.strokeStyle = 'rgba(96, 165, 250, 0.35)';
      ctx.stroke();
    }
    for (const p of this.points.values()) {
      const [x, y] = this.project(p.lat, p.lon);
      const fence = index.fences.findIndex((f) => contains(f, p.lat, p.lon));
      ctx.beginPath();
      ctx.arc(x, y, 3.5, 0, Math.PI * 2);
      ctx.fillStyle = fence < 0 ? '#60a5fa' : FENCE_COLORS[fence % FENCE_COLORS.length];
      ctx.fill();
      ctx.strokeStyle = 'rgba(11, 16, 32, 0.9)';
      ctx.stroke();
    }
    const now = performance.now();
    while (this.pulses.length > 0 && now - this.pulses[0].t > PULSE_MS) this.pulses.shift();
    for (const p of this.pulses) {
      const age = (now - p.t) / PULSE_MS;
      const [x, y] = this.project(p.lat, p.lon);
      ctx.beginPath();
      ctx.arc(x, y, 4 + age * 22, 0, Math.PI * 2);
      ctx.strokeStyle = p.kind === 'enter' ? `rgba(74, 222, 128, ${1 - age})` : `rgba(248, 113, 113, ${1 - age})`;
      ctx.lineWidth = 2;
      ctx.stroke();
    }
  }

  private drawGrid(ctx: CanvasRenderingContext2D, width: number, height: number): void {
    const [top, left] = this.unproject(0, 0);
    const [bottom, right] = this.unproject(width, height);
    const step = GRID_STEPS.find((s) => (top - bottom) / s <= 8) ?? 90;
    const digits = Math.max(0, -Math.floor(Math.log10(step)));
    ctx.lineWidth = 1;
    ctx.font = '10px ui-monospace, SFMono-Regular, Menlo, monospace';
    ctx.fillStyle = 'rgba(148, 163, 184, 0.6)';
    for (let lat = Math.ceil(bottom / step) * step; lat <= top; lat += step) {
      const y = Math.round(this.project(lat, left)[1]) + 0.5;
      ctx.strokeStyle = 'rgba(148, 163, 184, 0.12)';
      ctx.beginPath();
      ctx.moveTo(0, y);
      ctx.lineTo(width, y);
      ctx.stroke();
      if (y > 14 && y < height - 18) ctx.fillText(`${lat.toFixed(digits)}°`, 4, y - 3); // clear of the longitude labels
    }
    for (let lon = Math.ceil(left / step) * step; lon <= right; lon += step) {
      const x = Math.round(this.project(top, lon)[0]) + 0.5;
      ctx.strokeStyle = 'rgba(148, 163, 184, 0.12)';
      ctx.beginPath();
      ctx.moveTo(x, 0);
      ctx.lineTo(x, height);
      ctx.stroke();
      ctx.fillText(`${lon.toFixed(digits)}°`, x + 3, height - 4);
    }
  }

  private drawFence(ctx: CanvasRenderingContext2D, f: FenceInfo, color: string): void {
    const outline = fenceOutline(f);
    if (outline.length === 0) return;
    ctx.beginPath();
    outline.forEach(([lat, lon], i) => {
      const [x, y] = this.project(lat, lon);
      if (i === 0) ctx.moveTo(x, y);
      else ctx.lineTo(x, y);
    });
    ctx.closePath();
    ctx.globalAlpha = 0.12;
    ctx.fillStyle = color;
    ctx.fill();
    ctx.globalAlpha = 1;
    ctx.setLineDash([5, 4]);
    ctx.strokeStyle = color;
    ctx.lineWidth = 1.5;
    ctx.stroke();
    ctx.setLineDash([]);
    const b = bounds(outline)!;
    const [x, y] = this.project(b.maxLat, (b.minLon + b.maxLon) / 2);
    ctx.font = '600 12px system-ui, sans-serif';
    ctx.fillStyle = color;
    ctx.textAlign = 'center';
    ctx.fillText(f.name, x, y - 6);
    ctx.textAlign = 'start';
  }
}

/** A fence as a closed ring of [lat, lon] (a circle as 72 points). */
function fenceOutline(f: FenceInfo): [number, number][] {
  if (f.kind === 'polygon' && f.polygon) return f.polygon.map(([lat, lon]) => [lat, lon]);
  if (f.lat === null || f.lon === null || f.radiusMeters === null) return [];
  const dLat = f.radiusMeters / METERS_PER_DEGREE;
  const dLon = dLat / Math.cos((f.lat * Math.PI) / 180);
  return Array.from({ length: 72 }, (_, i) => {
    const a = (i / 72) * Math.PI * 2;
    return [f.lat! + dLat * Math.sin(a), f.lon! + dLon * Math.cos(a)];
  });
}

/** Whether (lat, lon) is inside the fence (for colouring; Tally's own test decides events). */
function contains(f: FenceInfo, lat: number, lon: number): boolean {
  if (f.kind === 'circle' && f.lat !== null && f.lon !== null && f.radiusMeters !== null) {
    const k = Math.cos((f.lat * Math.PI) / 180);
    const dy = (lat - f.lat) * METERS_PER_DEGREE;
    const dx = (lon - f.lon) * METERS_PER_DEGREE * k;
    return dx * dx + dy * dy <= f.radiusMeters * f.radiusMeters;
  }
  const ring = f.polygon ?? [];
  let inside = false;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    const [yi, xi] = ring[i];
    const [yj, xj] = ring[j];
    if (yi > lat !== yj > lat && lon < ((xj - xi) * (lat - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

/** Great-circle metres between two points (a sphere of the Earth's mean radius; for choosing circles). */
function haversineMeters(lat1: number, lon1: number, lat2: number, lon2: number): number {
  const r = Math.PI / 180;
  const a = Math.sin(((lat2 - lat1) * r) / 2) ** 2 + Math.cos(lat1 * r) * Math.cos(lat2 * r) * Math.sin(((lon2 - lon1) * r) / 2) ** 2;
  return 2 * 6_371_000 * Math.asin(Math.min(1, Math.sqrt(a)));
}

function bounds(points: [number, number][]): { minLat: number; maxLat: number; minLon: number; maxLon: number } | undefined {
  if (points.length === 0) return undefined;
  let minLat = Infinity;
  let maxLat = -Infinity;
  let minLon = Infinity;
  let maxLon = -Infinity;
  for (const [lat, lon] of points) {
    minLat = Math.min(minLat, lat);
    maxLat = Math.max(maxLat, lat);
    minLon = Math.min(minLon, lon);
    maxLon = Math.max(maxLon, lon);
  }
  return { minLat, maxLat, minLon, maxLon };
}
