/**
 * The arithmetic behind the replay plots, kept apart from the SVG so it can
 * be tested on its own: min/max reduction per pixel column (so a one-step
 * peak in 14,000 steps still reaches the top of a 800-px chart, which plain
 * sub-sampling loses), 1-2-5 axis ticks, time units for an axis, the busiest
 * window of a run (where the zoom panel looks) and number formatting.
 */

/** Per-column reduction of a series: extremes (and which came first), first and last value, sum. */
export interface Columns {
  /** Number of columns (at most the number of steps: a column never splits a step). */
  count: number;
  /** Steps `[start[c], start[c + 1])` fall in column c; `start[count]` is the end. */
  start: Int32Array;
  min: Float64Array;
  max: Float64Array;
  /** True where the column's minimum comes before its maximum (the order a line visits them). */
  minFirst: Uint8Array;
  first: Float64Array;
  last: Float64Array;
  sum: Float64Array;
  /** Finite values in the column (NaN columns draw nothing). */
  finite: Int32Array;
}

/**
 * Reduces `a[from..to)` to at most `columns` columns, each covering whole
 * steps. Non-finite values (a forecast not made yet) are skipped; a column
 * with none has NaN extremes.
 */
export function reduceColumns(a: ArrayLike<number>, from: number, to: number, columns: number): Columns {
  const n = Math.max(0, to - from);
  const count = Math.max(0, Math.min(n, Math.floor(columns)));
  const c: Columns = {
    count,
    start: new Int32Array(count + 1),
    min: new Float64Array(count).fill(Number.NaN),
    max: new Float64Array(count).fill(Number.NaN),
    minFirst: new Uint8Array(count),
    first: new Float64Array(count).fill(Number.NaN),
    last: new Float64Array(count).fill(Number.NaN),
    sum: new Float64Array(count),
    finite: new Int32Array(count),
  };
  for (let k = 0; k <= count; k++) c.start[k] = from + Math.floor((k * n) / Math.max(1, count));
  for (let k = 0; k < count; k++) {
    let minAt = -1;
    let maxAt = -1;
    for (let i = c.start[k]!; i < c.start[k + 1]!; i++) {
      const v = a[i]!;
      if (!Number.isFinite(v)) continue;
      if (c.finite[k] === 0) c.first[k] = v;
      c.finite[k]!++;
      c.last[k] = v;
      c.sum[k]! += v;
      if (minAt < 0 || v < c.min[k]!) [c.min[k], minAt] = [v, i];
      if (maxAt < 0 || v > c.max[k]!) [c.max[k], maxAt] = [v, i];
    }
    c.minFirst[k] = minAt <= maxAt ? 1 : 0;
  }
  return c;
}

/** Round axis ticks (1, 2 or 5 times a power of ten) covering `[lo, hi]`, about `count` of them. */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 5, 10].find((m) => m * mag >= raw) ?? 10) * mag;
  const out: number[] = [];
  // Rounding to the step's own decimals keeps 0.1 + 0.2 from printing as 0.30000000000000004.
  const decimals = Math.max(0, -Math.floor(Math.log10(step)) + 1);
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step)
    out.push(Number(v.toFixed(decimals)));
  return out;
}

/** A unit for a time axis: minutes up to 3 hours, hours up to 3 days, days beyond. */
export function timeUnit(spanMs: number): { name: 'minutes' | 'hours' | 'days'; ms: number } {
  if (spanMs <= 3 * 3_600_000) return { name: 'minutes', ms: 60_000 };
  if (spanMs <= 3 * 86_400_000) return { name: 'hours', ms: 3_600_000 };
  return { name: 'days', ms: 86_400_000 };
}

/** A duration as people say it: `1 s`, `5 min`, `1 h`, `1 d`, `90 s`, `13.2 min`. */
export function formatDuration(ms: number): string {
  const units: [number, string][] = [
    [86_400_000, 'd'],
    [3_600_000, 'h'],
    [60_000, 'min'],
    [1000, 's'],
  ];
  const k = units.findIndex(([size]) => ms >= size);
  if (k < 0) return `${ms} ms`;
  const [size, name] = units[k]!;
  if (ms % size === 0) return `${ms / size} ${name}`;
  // A whole number of the next unit down reads better while it is small: 90 s, not 1.5 min.
  const finer = units[k + 1];
  if (finer !== undefined && ms % finer[0] === 0 && ms / finer[0] < 120)
    return `${ms / finer[0]} ${finer[1]}`;
  return `${Number((ms / size).toPrecision(3))} ${name}`;
}

/** A number for a label: thousands separated, at most 3 significant digits after k/M/G. */
export function formatNumber(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a >= 1e9) return `${Number((v / 1e9).toPrecision(3))}G`;
  if (a >= 1e6) return `${Number((v / 1e6).toPrecision(3))}M`;
  if (a >= 1e4) return `${Number((v / 1e3).toPrecision(3))}k`;
  if (a >= 100 || Number.isInteger(v)) return Math.round(v).toLocaleString('en-US');
  return String(Number(v.toPrecision(3)));
}

/** A time-axis tick: every digit kept (16,380 not 16.4k, where ticks are 20 apart), thousands separated. */
export function formatTick(v: number): string {
  return v.toLocaleString('en-US', { maximumFractionDigits: 4 });
}

/** A share as a percentage with sensible digits: `0 %`, `0.042 %`, `4.45 %`, `76.2 %`. */
export function formatPercent(share: number): string {
  if (!Number.isFinite(share)) return 'n/a';
  if (share === 0) return '0 %';
  return `${Number((share * 100).toPrecision(3))} %`;
}

/**
 * How long the zoom panel's window is: the shortest of 1 min, 5 min,
 * 15 min, 1 h, 6 h, 1 d and 1 week that holds at least 60 steps, but never
 * more than a quarter of the run (a short run gets a quarter of itself).
 */
export function zoomSteps(n: number, stepMs: number): { steps: number; label: string } {
  const quarter = Math.max(2, Math.floor(n / 4));
  for (const ms of [60_000, 300_000, 900_000, 3_600_000, 21_600_000, 86_400_000, 604_800_000]) {
    const steps = Math.round(ms / stepMs);
    if (steps >= 60) {
      if (steps <= quarter) return { steps, label: formatDuration(ms) };
      break;
    }
  }
  const steps = Math.min(n, quarter);
  return { steps, label: formatDuration(steps * stepMs) };
}

/**
 * The `len`-step window of `[0, n)` with the most throttled requests, or,
 * when nothing was throttled, the most demand (a running sum, O(n); the
 * earliest such window wins a tie), then moved to centre on the
 * throttling (or demand) inside it.
 */
export function busiestWindow(
  demand: ArrayLike<number>,
  throttled: ArrayLike<number>,
  len: number,
): { from: number; to: number; by: 'throttled requests' | 'demand' } {
  const n = demand.length;
  const w = Math.max(1, Math.min(n, len));
  let total = 0;
  for (let i = 0; i < n; i++) total += throttled[i]!;
  const by = total > 0 ? 'throttled requests' : 'demand';
  const a = total > 0 ? throttled : demand;
  let sum = 0;
  for (let i = 0; i < w; i++) sum += a[i]!;
  let best = sum;
  let from = 0;
  for (let i = w; i < n; i++) {
    sum += a[i]! - a[i - w]!;
    if (sum > best * (1 + 1e-12) + 1e-12) [best, from] = [sum, i - w + 1];
  }
  // Centre the window on its own weight: a burst that made the best window with
  // its first steps would otherwise sit at the panel's edge, its aftermath cut off.
  let mass = 0;
  let moment = 0;
  for (let i = from; i < from + w; i++) [mass, moment] = [mass + a[i]!, moment + a[i]! * i];
  if (mass > 0) from = Math.min(n - w, Math.max(0, Math.round(moment / mass - (w - 1) / 2)));
  return { from, to: from + w, by };
}

/** Escapes text for SVG. */
export function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** A UTC time as `1998-06-30 19:00`. */
export function utcMinute(ms: number): string {
  return new Date(ms).toISOString().slice(0, 16).replace('T', ' ');
}
