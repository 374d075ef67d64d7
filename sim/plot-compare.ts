/**
 * The `headroom replay --plot-compare` figure: several policies replayed on
 * the same trace, forecasts and resource model, one row each (the whole run
 * and the zoom on the window where the policies together throttled most,
 * both on shared value axes so rows compare by eye), and beside them the
 * cost/throttling scatter, one labelled point per policy, with the Pareto
 * front (frontier.ts) joining the points no other policy beats on both.
 */
import { paretoFront } from './frontier.ts';
import { panelSvg, panelTop } from './plot-panel.ts';
import {
  busiestWindow,
  esc,
  formatDuration,
  formatNumber,
  formatPercent,
  niceTicks,
  zoomSteps,
} from './plot-scale.ts';
import { legendSvg, stepOf, svgDocument } from './plot-svg.ts';
import type { ReplaySummary } from './plot-svg.ts';
import type { Timeline } from './replay.ts';

/** One policy's run as the comparison draws it. */
export interface CompareRun {
  summary: ReplaySummary;
  timeline: Timeline;
}

/** Options of {@link plotCompareSvg}. */
export interface ComparePlotOptions {
  /** @default 'replay: policies compared' */
  title?: string;
  /** Second title line (what every run shares: the resource model, the forecast's scores). */
  subtitle?: string;
  stepMs?: number;
  traceStartMs?: number;
  forecastAheadSteps?: number;
  /** @default 1700 */
  width?: number;
}

/** One colour per policy (row marker and scatter point), in run order. */
const POLICY_COLORS = [
  '#4e79a7',
  '#e15759',
  '#59a14f',
  '#b07aa1',
  '#9c755f',
  '#edc948',
  '#ff9da7',
  '#76b7b2',
];

/** The comparison figure; every run must cover the same steps. */
export function plotCompareSvg(runs: readonly CompareRun[], o: ComparePlotOptions = {}): string {
  const W = o.width ?? 1700;
  const first = runs[0]?.timeline;
  const n = first?.demand.length ?? 0;
  const rowH = 190;
  const top = 120;
  const H = Math.max(top + runs.length * rowH + 50, 640);
  const body: string[] = [
    `<text x="24" y="26" font-size="16" font-weight="bold" class="title">${esc(o.title ?? 'replay: policies compared')}</text>`,
    `<text x="24" y="48" font-size="13" class="summary">${esc(o.subtitle ?? sharedLine(runs))}</text>`,
    ...legendSvg(24, 74, o.forecastAheadSteps),
  ];
  if (first === undefined || n === 0)
    return svgDocument(W, H, [...body, '<text x="24" y="120">no steps to draw</text>']);
  const stepMs = o.stepMs ?? stepOf(first);
  const start = o.traceStartMs ?? first.timestamp[0]!;
  // The zoom looks where the policies together throttled most (the same window in every row).
  const throttledAll = new Float64Array(n);
  for (const r of runs) for (let i = 0; i < n; i++) throttledAll[i]! += r.timeline.throttled[i] ?? 0;
  const zoom = zoomSteps(n, stepMs);
  const win = busiestWindow(first.demand, throttledAll, zoom.steps);
  const wholeTop = Math.max(...runs.map((r) => panelTop(r.timeline, 0, n)));
  const zoomTop = Math.max(...runs.map((r) => panelTop(r.timeline, win.from, win.to)));
  const wholeW = 760;
  const zoomX = 86 + wholeW + 80;
  const zoomW = 300;
  const yLabel = `requests per ${formatDuration(stepMs)} step`;
  runs.forEach((r, k) => {
    const y = top + k * rowH;
    const h = rowH - 62;
    const last = k === runs.length - 1;
    const s = r.summary;
    const color = POLICY_COLORS[k % POLICY_COLORS.length]!;
    body.push(
      `<rect x="72" y="${y - 18}" width="10" height="10" fill="${color}"/>`,
      ...panelSvg(r.timeline, {
        box: { x: 86, y, w: wholeW, h },
        from: 0,
        to: n,
        yTop: wholeTop,
        stepMs,
        traceStartMs: start,
        yLabel,
        id: `whole-${k}`,
        title: `${s.policy}: cost ${formatNumber(s.cost)} · throttled ${formatPercent(s.throttledFraction)} of requests · utilisation ${formatPercent(s.meanUtilization)}`,
        highlight: win,
        timeAxis: last,
      }),
      ...panelSvg(r.timeline, {
        box: { x: zoomX, y, w: zoomW, h },
        from: win.from,
        to: win.to,
        yTop: zoomTop,
        stepMs,
        traceStartMs: start,
        yLabel: '',
        id: `zoom-${k}`,
        title: k === 0 ? `zoom: busiest ${zoom.label} (most ${win.by})` : `${s.policy}`,
        timeAxis: last,
      }),
    );
  });
  body.push(
    ...frontierSvg(runs, { x: zoomX + zoomW + 110, y: top, w: W - (zoomX + zoomW + 110) - 30, h: 400 }),
  );
  return svgDocument(W, H, body);
}

/** The cost/throttling scatter: x reservation cost, y throttled share; one labelled point per run. */
function frontierSvg(
  runs: readonly CompareRun[],
  box: { x: number; y: number; w: number; h: number },
): string[] {
  const pts = runs.map((r) => ({
    policy: r.summary.policy,
    cost: r.summary.cost,
    thr: r.summary.throttledFraction * 100,
  }));
  const costs = pts.map((p) => p.cost);
  let lo = Math.min(...costs);
  let hi = Math.max(...costs);
  const pad = hi > lo ? (hi - lo) * 0.12 : Math.max(1, Math.abs(hi) * 0.1);
  [lo, hi] = [Math.max(0, lo - pad), hi + pad];
  const yHi = Math.max(...pts.map((p) => p.thr), 0) * 1.15 || 1;
  const x = (c: number): number => box.x + ((c - lo) / (hi - lo)) * box.w;
  const y = (v: number): number => box.y + box.h - (v / yHi) * box.h;
  const f1 = (v: number): string => v.toFixed(1);
  const out: string[] = [
    `<text x="${box.x}" y="${box.y - 8}" font-size="13" font-weight="bold">cost / throttling frontier (lower left is better)</text>`,
    `<rect x="${box.x}" y="${box.y}" width="${box.w}" height="${box.h}" fill="#fcfcfc" stroke="#bbb" class="frontier"/>`,
  ];
  for (const v of niceTicks(lo, hi, 4)) {
    out.push(
      `<line x1="${f1(x(v))}" y1="${box.y}" x2="${f1(x(v))}" y2="${box.y + box.h}" stroke="#e4e4e4"/>`,
      `<text x="${f1(x(v))}" y="${box.y + box.h + 16}" text-anchor="middle" font-size="11">${formatNumber(v)}</text>`,
    );
  }
  for (const v of niceTicks(0, yHi, 5)) {
    out.push(
      `<line x1="${box.x}" y1="${f1(y(v))}" x2="${box.x + box.w}" y2="${f1(y(v))}" stroke="#e4e4e4"/>`,
      `<text x="${box.x - 6}" y="${f1(y(v) + 4)}" text-anchor="end" font-size="11">${formatNumber(v)}</text>`,
    );
  }
  const ly = box.y + box.h / 2;
  out.push(
    `<text x="${box.x + box.w / 2}" y="${box.y + box.h + 34}" text-anchor="middle" font-size="11" class="x-label">reservation cost (unit-seconds x unit cost)</text>`,
    `<text x="${box.x - 48}" y="${f1(ly)}" transform="rotate(-90 ${box.x - 48} ${f1(ly)})" text-anchor="middle" font-size="11" class="y-label">throttled requests (% of all)</text>`,
  );
  const front = paretoFront(
    pts.map((p) => ({ setting: 0, cost: p.cost, throttledFraction: p.thr, objective: 0 })),
  );
  if (front.length > 1)
    out.push(
      `<path d="M${front.map((p) => `${f1(x(p.cost))},${f1(y(p.throttledFraction))}`).join('L')}" fill="none" stroke="#888" stroke-dasharray="4 3" class="pareto"/>`,
    );
  // Labels right of their point (left near the right edge), moved down past any label they would overlap.
  const placed: { x0: number; x1: number; y: number }[] = [];
  pts.forEach((p, k) => {
    const color = POLICY_COLORS[k % POLICY_COLORS.length]!;
    const px = x(p.cost);
    const label = `${p.policy} (${formatPercent(p.thr / 100)})`;
    const anchor = px > box.x + box.w * 0.6 ? 'end' : 'start';
    const x0 = anchor === 'end' ? px - 8 - label.length * 6.5 : px + 8;
    const x1 = x0 + label.length * 6.5;
    let ly = y(p.thr) - 7;
    while (placed.some((q) => Math.abs(q.y - ly) < 13 && q.x0 < x1 && x0 < q.x1)) ly += 13;
    placed.push({ x0, x1, y: ly });
    out.push(
      `<circle cx="${f1(px)}" cy="${f1(y(p.thr))}" r="5" fill="${color}" stroke="#333" class="policy-point"/>`,
      `<text x="${f1(anchor === 'end' ? x1 : x0)}" y="${f1(ly)}" text-anchor="${anchor}" font-size="11">${esc(label)}</text>`,
    );
  });
  if (front.length > 1)
    out.push(
      `<text x="${box.x}" y="${box.y + box.h + 54}" font-size="11" fill="#444">dashed: Pareto front (no policy both cheaper and throttling less)</text>`,
    );
  return out;
}

/** The default subtitle: what the runs share, the forecast and its scores (the same for every policy). */
function sharedLine(runs: readonly CompareRun[]): string {
  const s = runs[0]?.summary;
  if (s === undefined) return '';
  return `${runs.length} policies on the same demand, forecasts and resource model  ·  forecast WAPE ${formatPercent(s.wape)}  ·  p10-p90 coverage ${formatPercent(s.coverage)}`;
}
