import { DAY_MS, HOUR_MS } from '../../lib/index.ts';
import type { SeriesView } from '../types.ts';

/** Node names of the demand network. */
export const BnNode = {
  TimeOfWeek: 'timeOfWeek',
  Event: 'event',
  Segment: 'segment',
  Region: 'region',
  Trend: 'trend',
  Current: 'current',
  Demand: 'demand',
  Burst: 'burst',
} as const;
export type BnNode = (typeof BnNode)[keyof typeof BnNode];

/** Time-of-week band of a timestamp: weekday/weekend x six 4-hour bands (12 states). */
export function timeOfWeekBand(ms: number): number {
  const dow = Math.floor(ms / DAY_MS + 4) % 7; // 0 = Sunday (1970-01-01 was a Thursday)
  const weekend = dow === 0 || dow === 6 ? 1 : 0;
  const hour = Math.floor((((ms % DAY_MS) + DAY_MS) % DAY_MS) / HOUR_MS);
  return weekend * 6 + Math.floor(hour / 4);
}

export const TOW_STATES = [
  'wd-00',
  'wd-04',
  'wd-08',
  'wd-12',
  'wd-16',
  'wd-20',
  'we-00',
  'we-04',
  'we-08',
  'we-12',
  'we-16',
  'we-20',
];
export const EVENT_STATES = ['calm', 'elevated', 'spike'];
export const TREND_STATES = ['down', 'flat', 'up'];
export const BURST_STATES = ['no', 'yes'];

/** Mean of |v| over the `w` slots ending at `o`. */
export function recentMean(v: Float64Array, o: number, w: number): number {
  let s = 0;
  const lo = Math.max(0, o - w + 1);
  for (let i = lo; i <= o; i++) s += Math.abs(v[i]!);
  return s / (o + 1 - lo);
}

/** Index of the bin of `x` given ascending inner edges (k-1 edges for k bins). */
export function bin(x: number, edges: ArrayLike<number>): number {
  let b = 0;
  while (b < edges.length && x >= edges[b]!) b++;
  return b;
}

/** Causal evidence at origin `o` (reads slots `<= o` only). */
export interface OriginEvidence {
  scale: number;
  /** Last value over the scale. */
  ratio: number;
  event: number;
  trend: number;
}

/**
 * Scale = mean of the last `scaleWindow` slots (floored); event level from
 * the last 3 slots against the scale (spike at 2.5x, elevated at 1.3x);
 * trend from the last 4 slots against the last 16 (+/- 15%).
 */
export function originEvidence(
  view: SeriesView,
  o: number,
  scaleWindow: number,
  floor: number,
): OriginEvidence {
  const v = view.values;
  const scale = Math.max(recentMean(v, o, scaleWindow), floor, 1e-6);
  const r3 = recentMean(v, o, 3) / scale;
  const event = r3 >= 2.5 ? 2 : r3 >= 1.3 ? 1 : 0;
  const t = recentMean(v, o, 4) / Math.max(recentMean(v, o, 16), 1e-9);
  const trend = t < 0.85 ? 0 : t > 1.15 ? 2 : 1;
  return { scale, ratio: Math.abs(v[o]!) / scale, event, trend };
}
