/**
 * The `headroom replay --plot` figure, written as SVG text (no DOM): the
 * whole run on the left, a zoom on its busiest window on the right (most
 * throttled requests, or most demand when nothing was throttled), each with
 * demand, the forecast band, capacity and throttled steps (plot-panel.ts);
 * the run's figures (cost, throttled share, utilisation, forecast WAPE and
 * band coverage) in the title. Also the `--timeline` CSV.
 */
import { PLOT_STYLE, panelSvg, panelTop } from './plot-panel.ts';
import {
  busiestWindow,
  esc,
  formatDuration,
  formatNumber,
  formatPercent,
  utcMinute,
  zoomSteps,
} from './plot-scale.ts';
import type { ReplayResult, Timeline } from './replay.ts';

/** The figures a plot's title shows. */
export interface ReplaySummary {
  policy: string;
  cost: number;
  /** Throttled requests / requests. */
  throttledFraction: number;
  /** Steps with any throttling / steps. */
  throttledStepShare: number;
  meanUtilization: number;
  /** sum |demand - p50| / sum demand over the steps with a forecast (NaN when none has). */
  wape: number;
  /** Share of those steps whose demand fell inside the p10-p90 band. */
  coverage: number;
}

/** Options of {@link plotReplaySvg}. */
export interface ReplayPlotOptions {
  /** First title line (the trace and policy). @default 'replay' */
  title?: string;
  /** Step length. @default the timeline's first timestamp difference, else 1 s */
  stepMs?: number;
  /** Time zero of the x axes. @default the timeline's first timestamp */
  traceStartMs?: number;
  /** How many steps ahead the plotted forecast was made (named in the legend). */
  forecastAheadSteps?: number;
  /** @default 1400 */
  width?: number;
  /** @default 620 */
  height?: number;
}

/** The title's figures of a run: the report's, plus forecast WAPE and coverage from its timeline. */
export function replaySummary(
  r: Pick<ReplayResult, 'policy' | 'cost' | 'throttledFraction' | 'meanUtilization'>,
  tl: Timeline,
): ReplaySummary {
  let err = 0;
  let sum = 0;
  let inside = 0;
  let forecast = 0;
  let throttledSteps = 0;
  for (let i = 0; i < tl.demand.length; i++) {
    const d = tl.demand[i]!;
    if (tl.throttled[i]! > 0) throttledSteps++;
    const p50 = tl.forecastP50[i]!;
    if (!Number.isFinite(p50)) continue;
    forecast++;
    err += Math.abs(d - p50);
    sum += d;
    if (d >= tl.forecastP10[i]! && d <= tl.forecastP90[i]!) inside++;
  }
  return {
    policy: r.policy,
    cost: r.cost,
    throttledFraction: r.throttledFraction,
    throttledStepShare: tl.demand.length > 0 ? throttledSteps / tl.demand.length : 0,
    meanUtilization: r.meanUtilization,
    wape: sum > 0 ? err / sum : Number.NaN,
    coverage: forecast > 0 ? inside / forecast : Number.NaN,
  };
}

/** The summary as the title's second line. */
export function summaryLine(s: ReplaySummary): string {
  return [
    `cost ${formatNumber(s.cost)}`,
    `throttled ${formatPercent(s.throttledFraction)} of requests (${formatPercent(s.throttledStepShare)} of steps)`,
    `utilisation ${formatPercent(s.meanUtilization)}`,
    `forecast WAPE ${formatPercent(s.wape)}`,
    `p10-p90 coverage ${formatPercent(s.coverage)}`,
  ].join('  ·  ');
}

/** The step length of a timeline: its first timestamp difference (1 s for a one-step timeline). */
export function stepOf(tl: Pick<Timeline, 'timestamp'>): number {
  const d = tl.timestamp.length > 1 ? tl.timestamp[1]! - tl.timestamp[0]! : 0;
  return d > 0 ? d : 1000;
}

/** The legend row: one sample per series, left to right from `x`. */
export function legendSvg(x: number, y: number, aheadSteps?: number): string[] {
  const st = PLOT_STYLE;
  const ahead =
    aheadSteps === undefined ? '' : `, made ${aheadSteps} step${aheadSteps === 1 ? '' : 's'} ahead`;
  const items: [string, string][] = [
    ['demand', `<line x1="0" y1="0" x2="22" y2="0" stroke="${st.demand.color}" stroke-width="2"/>`],
    [
      'capacity (ready units)',
      `<line x1="0" y1="0" x2="22" y2="0" stroke="${st.capacity.color}" stroke-width="${st.capacity.width}"/>`,
    ],
    [
      `forecast p50${ahead}`,
      `<line x1="0" y1="0" x2="22" y2="0" stroke="${st.p50.color}" stroke-width="1.5" stroke-dasharray="${st.p50.dash}"/>`,
    ],
    [
      'forecast p10-p90',
      `<rect x="0" y="-6" width="22" height="12" fill="${st.band.color}" fill-opacity="${st.band.opacity * 2}"/>`,
    ],
    ['throttled steps', `<rect x="0" y="-4" width="22" height="8" fill="${st.throttled.color}"/>`],
    [
      'zoom window',
      `<rect x="0" y="-6" width="22" height="12" fill="${st.zoom.color}" fill-opacity="0.15" stroke="${st.zoom.color}" stroke-dasharray="3 2"/>`,
    ],
  ];
  const out: string[] = ['<g class="legend">'];
  let at = x;
  for (const [label, sample] of items) {
    out.push(
      `<g transform="translate(${at} ${y})">${sample}<text x="28" y="4" font-size="12">${esc(label)}</text></g>`,
    );
    at += 40 + label.length * 7;
  }
  out.push('</g>');
  return out;
}

/** The SVG document around `body`. */
export function svgDocument(width: number, height: number, body: readonly string[]): string {
  return `${[
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="${PLOT_STYLE.font}" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    ...body,
    '</svg>',
  ].join('\n')}\n`;
}

/** The `--plot` figure of one run (see the module comment). */
export function plotReplaySvg(tl: Timeline, summary: ReplaySummary, o: ReplayPlotOptions = {}): string {
  const W = o.width ?? 1400;
  const H = o.height ?? 620;
  const n = tl.demand.length;
  const stepMs = o.stepMs ?? stepOf(tl);
  const start = o.traceStartMs ?? tl.timestamp[0] ?? 0;
  const yLabel = `requests per ${formatDuration(stepMs)} step`;
  const body: string[] = [
    `<text x="24" y="26" font-size="16" font-weight="bold" class="title">${esc(o.title ?? 'replay')}</text>`,
    `<text x="24" y="48" font-size="13" class="summary">${esc(summaryLine(summary))}</text>`,
    ...legendSvg(24, 74, o.forecastAheadSteps),
  ];
  if (n === 0) return svgDocument(W, H, [...body, '<text x="24" y="120">no steps to draw</text>']);
  const zoom = zoomSteps(n, stepMs);
  const win = busiestWindow(tl.demand, tl.throttled, zoom.steps);
  const top = 118;
  const h = H - top - 70;
  const wholeW = Math.round((W - 110) * 0.66);
  const zoomX = 86 + wholeW + 80;
  body.push(
    ...panelSvg(tl, {
      box: { x: 86, y: top, w: wholeW, h },
      from: 0,
      to: n,
      yTop: panelTop(tl, 0, n),
      stepMs,
      traceStartMs: start,
      yLabel,
      id: 'whole',
      title: `whole run: ${formatNumber(n)} steps of ${formatDuration(stepMs)} (after the warm-up)`,
      highlight: win,
    }),
    ...panelSvg(tl, {
      box: { x: zoomX, y: top, w: W - zoomX - 24, h },
      from: win.from,
      to: win.to,
      yTop: panelTop(tl, win.from, win.to),
      stepMs,
      traceStartMs: start,
      yLabel,
      id: 'zoom',
      title: `zoom: busiest ${zoom.label} (most ${win.by})`,
    }),
    `<text x="${zoomX}" y="${top - 26}" font-size="11" fill="#444" class="zoom-range">${utcMinute(tl.timestamp[win.from]!)} to ${utcMinute(tl.timestamp[win.to - 1]! + stepMs)} UTC</text>`,
  );
  return svgDocument(W, H, body);
}

/** The `--timeline` CSV: `step,timestamp,demand,capacity,served,throttled`. */
export function timelineCsv(tl: Timeline): string {
  const rows = ['step,timestamp,demand,capacity,served,throttled'];
  for (let i = 0; i < tl.demand.length; i++)
    rows.push(
      `${tl.step[i]},${new Date(tl.timestamp[i]!).toISOString()},${tl.demand[i]},${tl.capacity[i]},${tl.served[i]},${tl.throttled[i]}`,
    );
  return `${rows.join('\n')}\n`;
}
