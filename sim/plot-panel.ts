/**
 * One chart panel of a replay plot, as SVG elements: the forecast band
 * (p10-p90 shaded, p50 dashed), capacity as a step line under demand (so it
 * never hides it), demand on top, throttled steps as red ticks in a strip
 * under the time axis, and labelled axes with units. Long runs are reduced
 * per pixel column to their min and max (plot-scale.ts), so the drawing has
 * at most a few points per pixel whatever the trace's length.
 */
import {
  esc,
  formatNumber,
  formatTick,
  niceTicks,
  reduceColumns,
  timeUnit,
  utcMinute,
} from './plot-scale.ts';
import type { Columns } from './plot-scale.ts';

/** Colours and strokes of the series, shared by every panel and the legend. */
export const PLOT_STYLE = {
  demand: { color: '#1f4e9c', width: 1.2 },
  capacity: { color: '#f28e2b', width: 2.2 },
  p50: { color: '#2f8f3a', width: 1.1, dash: '5 3' },
  band: { color: '#59a14f', opacity: 0.22 },
  throttled: { color: '#d62728' },
  zoom: { color: '#555' },
  font: 'DejaVu Sans, Arial, Helvetica, sans-serif',
} as const;

/** The per-step series a panel draws (a replay's Timeline has them all). */
export interface PanelSeries {
  timestamp: ArrayLike<number>;
  demand: ArrayLike<number>;
  capacity: ArrayLike<number>;
  throttled: ArrayLike<number>;
  forecastP10?: ArrayLike<number>;
  forecastP50?: ArrayLike<number>;
  forecastP90?: ArrayLike<number>;
}

/** Where and what one panel draws. */
export interface PanelOptions {
  /** Plot area in figure pixels (axes and labels go outside it). */
  box: { x: number; y: number; w: number; h: number };
  /** Steps `[from, to)` of the series. */
  from: number;
  to: number;
  /** Top of the value axis. */
  yTop: number;
  stepMs: number;
  /** Time zero of the x axis (the trace's first timestamp). */
  traceStartMs: number;
  /** Value axis title, with its unit. */
  yLabel: string;
  /** Unique within the figure (clip path id). */
  id: string;
  title?: string;
  /** Steps to outline as the zoom panel's window. */
  highlight?: { from: number; to: number };
  /** Draw the tick labels and title of the time axis. @default true */
  timeAxis?: boolean;
}

const f1 = (v: number): string => v.toFixed(1);

/** The largest demand or capacity in `[from, to)`, with headroom above it, for a panel's `yTop`. */
export function panelTop(s: PanelSeries, from: number, to: number): number {
  let top = 0;
  for (let i = from; i < to; i++) top = Math.max(top, s.demand[i]!, s.capacity[i]!);
  return top > 0 ? top * 1.08 : 1;
}

/** The SVG elements of one panel. */
export function panelSvg(s: PanelSeries, o: PanelOptions): string[] {
  const { box, from, to } = o;
  const n = Math.max(1, to - from);
  const cols = Math.max(1, Math.floor(box.w));
  const xAt = (i: number): number => box.x + ((i - from) / n) * box.w;
  const y = (v: number): number => box.y + box.h - (Math.max(0, v) / o.yTop) * box.h;
  const out: string[] = [];
  const title = o.title === undefined ? '' : esc(o.title);
  if (title !== '')
    out.push(`<text x="${box.x}" y="${box.y - 8}" font-size="13" font-weight="bold">${title}</text>`);
  out.push(
    `<clipPath id="${o.id}"><rect x="${box.x}" y="${box.y}" width="${box.w}" height="${box.h}"/></clipPath>`,
    `<rect x="${box.x}" y="${box.y}" width="${box.w}" height="${box.h}" fill="#fcfcfc" stroke="#bbb"/>`,
  );
  // Value axis: grid, tick labels, title.
  for (const v of niceTicks(0, o.yTop / 1.0001, Math.max(2, Math.round(box.h / 55)))) {
    out.push(
      `<line x1="${box.x}" y1="${f1(y(v))}" x2="${box.x + box.w}" y2="${f1(y(v))}" stroke="#e4e4e4"/>`,
      `<text x="${box.x - 6}" y="${f1(y(v) + 4)}" text-anchor="end" font-size="11">${formatNumber(v)}</text>`,
    );
  }
  const ly = box.y + box.h / 2;
  out.push(
    `<text x="${box.x - 52}" y="${f1(ly)}" transform="rotate(-90 ${box.x - 52} ${f1(ly)})" text-anchor="middle" font-size="11" class="y-label">${esc(o.yLabel)}</text>`,
  );
  // Time axis: minutes, hours or days from the trace's start, by the panel's span.
  const t0 = s.timestamp[from]!;
  const span = n * o.stepMs;
  const unit = timeUnit(span);
  const lo = (t0 - o.traceStartMs) / unit.ms;
  const hi = (t0 + span - o.traceStartMs) / unit.ms;
  const stripY = box.y + box.h + 3;
  if (o.timeAxis !== false) {
    for (const v of niceTicks(lo, hi, Math.max(2, Math.round(box.w / 110)))) {
      const x = box.x + ((v - lo) / (hi - lo)) * box.w;
      out.push(
        `<line x1="${f1(x)}" y1="${box.y + box.h}" x2="${f1(x)}" y2="${stripY + 12}" stroke="#999"/>`,
        `<text x="${f1(x)}" y="${stripY + 24}" text-anchor="middle" font-size="11">${formatTick(v)}</text>`,
      );
    }
    out.push(
      `<text x="${box.x + box.w / 2}" y="${stripY + 40}" text-anchor="middle" font-size="11" class="x-label">${unit.name} from trace start (${utcMinute(o.traceStartMs)} UTC)</text>`,
    );
  }
  const c = (a: ArrayLike<number>): Columns => reduceColumns(a, from, to, cols);
  const left = (k: number, cs: Columns): number => xAt(cs.start[k]!);
  const right = (k: number, cs: Columns): number => xAt(cs.start[k + 1]!);
  const body: string[] = [];
  if (o.highlight) {
    const hx = xAt(Math.max(from, o.highlight.from));
    const hw = Math.max(2, xAt(Math.min(to, o.highlight.to)) - hx);
    body.push(
      `<rect x="${f1(hx)}" y="${box.y}" width="${f1(hw)}" height="${box.h}" fill="${PLOT_STYLE.zoom.color}" fill-opacity="0.12" stroke="${PLOT_STYLE.zoom.color}" stroke-dasharray="3 2" class="zoom-window"/>`,
    );
  }
  // Forecast band: p10 minimum to p90 maximum per column, one polygon per stretch with a forecast.
  if (s.forecastP10 && s.forecastP90) {
    const p10 = c(s.forecastP10);
    const p90 = c(s.forecastP90);
    let upper: string[] = [];
    let lower: string[] = [];
    const flush = (): void => {
      if (upper.length > 0)
        body.push(
          `<path d="M${upper.join('L')}L${lower.reverse().join('L')}Z" fill="${PLOT_STYLE.band.color}" fill-opacity="${PLOT_STYLE.band.opacity}" stroke="none" class="forecast-band"/>`,
        );
      upper = [];
      lower = [];
    };
    for (let k = 0; k < p90.count; k++) {
      if (p90.finite[k] === 0 || p10.finite[k] === 0) {
        flush();
        continue;
      }
      for (const x of [left(k, p90), right(k, p90)]) {
        upper.push(`${f1(x)},${f1(y(p90.max[k]!))}`);
        lower.push(`${f1(x)},${f1(y(p10.min[k]!))}`);
      }
    }
    flush();
  }
  // Capacity: a step line, horizontal over each column, vertical between them.
  const cap = c(s.capacity);
  let d = '';
  for (let k = 0; k < cap.count; k++) {
    if (cap.finite[k] === 0) continue;
    const [a, b] = cap.minFirst[k] ? [cap.min[k]!, cap.max[k]!] : [cap.max[k]!, cap.min[k]!];
    const xl = f1(left(k, cap));
    const xm = f1((left(k, cap) + right(k, cap)) / 2);
    d += `${d === '' ? 'M' : 'L'}${xl},${f1(y(cap.first[k]!))}`;
    if (a !== b) d += `L${xm},${f1(y(a))}L${xm},${f1(y(b))}`;
    d += `L${f1(right(k, cap))},${f1(y(cap.last[k]!))}`;
  }
  body.push(
    `<path d="${d}" fill="none" stroke="${PLOT_STYLE.capacity.color}" stroke-width="${PLOT_STYLE.capacity.width}" stroke-linejoin="round" class="capacity"/>`,
  );
  if (s.forecastP50) body.push(linePath(c(s.forecastP50), PLOT_STYLE.p50, 'forecast-p50'));
  body.push(linePath(c(s.demand), PLOT_STYLE.demand, 'demand'));
  out.push(`<g clip-path="url(#${o.id})">`, ...body, '</g>');
  // Throttled steps: a red tick per column with any throttling, darker the larger its share of demand.
  const thr = c(s.throttled);
  const dem = c(s.demand);
  for (let k = 0; k < thr.count; k++) {
    if (!(thr.sum[k]! > 0)) continue;
    const share = dem.sum[k]! > 0 ? thr.sum[k]! / dem.sum[k]! : 1;
    const x = left(k, thr);
    out.push(
      `<rect x="${f1(x)}" y="${stripY}" width="${f1(Math.max(1, right(k, thr) - x))}" height="8" fill="${PLOT_STYLE.throttled.color}" fill-opacity="${(0.35 + 0.65 * Math.min(1, share * 5)).toFixed(2)}" class="throttled"/>`,
    );
  }
  out.push(`<rect x="${box.x}" y="${stripY}" width="${box.w}" height="8" fill="none" stroke="#ddd"/>`);
  return out;

  function linePath(cs: Columns, st: { color: string; width: number; dash?: string }, cls: string): string {
    // Each column visits its extremes in the order they happened, so a line between
    // columns joins where the data did and a one-step peak stays drawn.
    let p = '';
    let pen = false;
    for (let k = 0; k < cs.count; k++) {
      if (cs.finite[k] === 0) {
        pen = false;
        continue;
      }
      const x = f1((left(k, cs) + right(k, cs)) / 2);
      const pts =
        cs.min[k] === cs.max[k]
          ? [cs.first[k]!]
          : [
              cs.first[k]!,
              ...(cs.minFirst[k] ? [cs.min[k]!, cs.max[k]!] : [cs.max[k]!, cs.min[k]!]),
              cs.last[k]!,
            ];
      for (const v of pts) {
        p += `${pen ? 'L' : 'M'}${x},${f1(y(v))}`;
        pen = true;
      }
    }
    const dash = st.dash === undefined ? '' : ` stroke-dasharray="${st.dash}"`;
    return `<path d="${p}" fill="none" stroke="${st.color}" stroke-width="${st.width}"${dash} stroke-linejoin="round" class="${cls}"/>`;
  }
}
