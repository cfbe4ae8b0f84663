// A small time chart on a canvas: a line over the last `spanMs`, its area shaded, the newest
// value marked. Points are [time ms, value]; null values break the line.
import { fitCanvas } from './dom.js';

export interface SparklineOptions {
  spanMs: number;
  color: string;
  /** Draw the y range from zero (counts, rates) rather than from the data's minimum. */
  fromZero?: boolean;
}

export function drawSparkline(canvas: HTMLCanvasElement, points: readonly [number, number | null][], now: number, opts: SparklineOptions): void {
  const { ctx, width, height } = fitCanvas(canvas);
  const pad = 3;
  const t0 = now - opts.spanMs;
  const visible = points.filter(([t]) => t >= t0 - opts.spanMs * 0.05);
  const values = visible.map(([, v]) => v).filter((v): v is number => v !== null);
  // faint baseline grid: quarter lines
  ctx.strokeStyle = 'rgba(148, 163, 184, 0.12)';
  ctx.lineWidth = 1;
  for (let i = 1; i < 4; i++) {
    const y = Math.round((height * i) / 4) + 0.5;
    ctx.beginPath();
    ctx.moveTo(0, y);
    ctx.lineTo(width, y);
    ctx.stroke();
  }
  if (values.length === 0) return;
  let lo = opts.fromZero ? Math.min(0, ...values) : Math.min(...values);
  let hi = Math.max(...values);
  if (hi === lo) {
    hi += hi === 0 ? 1 : Math.abs(hi) * 0.1;
    if (!opts.fromZero) lo -= Math.abs(lo) * 0.1;
  }
  const x = (t: number) => ((t - t0) / opts.spanMs) * (width - pad * 2) + pad;
  const y = (v: number) => height - pad - ((v - lo) / (hi - lo)) * (height - pad * 2);
  // area, then line, as steps: a window value holds until the next change
  const path = new Path2D();
  let started = false;
  let lastX = 0;
  let lastY = 0;
  for (const [t, v] of visible) {
    if (v === null) {
      started = false;
      continue;
    }
    const px = Math.max(pad, x(t));
    const py = y(v);
    if (!started) path.moveTo(px, py);
    else {
      path.lineTo(px, lastY);
      path.lineTo(px, py);
    }
    started = true;
    lastX = px;
    lastY = py;
  }
  if (started) path.lineTo(x(now), lastY);
  ctx.strokeStyle = opts.color;
  ctx.lineWidth = 1.5;
  ctx.lineJoin = 'round';
  ctx.stroke(path);
  const area = new Path2D(path);
  area.lineTo(x(now), height);
  area.lineTo(Math.max(pad, x(visible[0][0])), height);
  area.closePath();
  ctx.globalAlpha = 0.15;
  ctx.fillStyle = opts.color;
  ctx.fill(area);
  ctx.globalAlpha = 1;
  if (started) {
    ctx.beginPath();
    ctx.arc(Math.min(x(now), width - pad), lastY, 2.5, 0, Math.PI * 2);
    ctx.fillStyle = opts.color;
    ctx.fill();
  }
  void lastX;
}
