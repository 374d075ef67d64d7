import { invalidField } from '../errors.ts';

/** z of the 90th percentile of the standard normal. */
export const Z90 = 1.2815515655446004;

/**
 * Inverse of the standard normal CDF (Acklam's rational approximation,
 * relative error below 1.2e-9), for quantile levels in (0, 1).
 */
export function normalQuantile(q: number): number {
  if (!(q > 0 && q < 1)) throw invalidField('quantile', 'a number strictly between 0 and 1', q);
  const a = [
    -39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716,
    2.506628277459239,
  ];
  const b = [
    -54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572,
  ];
  const c = [
    -0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968,
    2.938163982698783,
  ];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const lo = 0.02425;
  if (q < lo || q > 1 - lo) {
    const s = Math.sqrt(-2 * Math.log(q < lo ? q : 1 - q));
    const x =
      (((((c[0]! * s + c[1]!) * s + c[2]!) * s + c[3]!) * s + c[4]!) * s + c[5]!) /
      ((((d[0]! * s + d[1]!) * s + d[2]!) * s + d[3]!) * s + 1);
    return q < lo ? x : -x;
  }
  const r = q - 0.5;
  const t = r * r;
  return (
    ((((((a[0]! * t + a[1]!) * t + a[2]!) * t + a[3]!) * t + a[4]!) * t + a[5]!) * r) /
    (((((b[0]! * t + b[1]!) * t + b[2]!) * t + b[3]!) * t + b[4]!) * t + 1)
  );
}

/**
 * A demand level `z` spreads above (or below) the median, where one spread
 * is the forecast's own p50..p90 (or p10..p50) distance divided by z90: a
 * two-piece normal through the three quantiles. A point forecast (NaN
 * p10/p90) gives its median. Never negative.
 */
export function levelAtZ(p10: number, p50: number, p90: number, z: number): number {
  if (!Number.isFinite(p50)) return Number.NaN;
  const side = z >= 0 ? p90 - p50 : p50 - p10;
  const spread = Number.isFinite(side) ? Math.max(0, side) / Z90 : 0;
  return Math.max(0, p50 + z * spread);
}

/** The forecast's `q` quantile, read off the two-piece normal through p10, p50, p90. */
export function quantileAt(p10: number, p50: number, p90: number, q: number): number {
  return levelAtZ(p10, p50, p90, normalQuantile(q));
}

/** Units needed to serve `demand` at `targetUtilization` (1 = full) of `unitCapacity` each. */
export function unitsFor(demand: number, unitCapacity: number, targetUtilization = 1): number {
  if (!(unitCapacity > 0)) throw invalidField('unitCapacity', 'a positive number', unitCapacity);
  if (!(targetUtilization > 0 && targetUtilization <= 1))
    throw invalidField('targetUtilization', 'a number in (0, 1]', targetUtilization);
  if (!(demand > 0)) return 0;
  // The small slack keeps float noise (10.000000001 units) from buying a unit.
  return Math.max(0, Math.ceil(demand / (unitCapacity * targetUtilization) - 1e-9));
}

/** Whole steps of start-up lead: units asked for at the end of step t serve from step `t + 1 + lead`. */
export function leadSteps(startupMs: number, stepMs: number): number {
  if (!(Number.isFinite(startupMs) && startupMs >= 0))
    throw invalidField('startupMs', 'a finite number >= 0', startupMs);
  if (!(stepMs > 0)) throw invalidField('stepMs', 'a positive number', stepMs);
  return Math.ceil(startupMs / stepMs - 1e-9);
}

/** Forecast horizons (steps) a pool needs for a lead of `lead` steps: 1, the middle and `lead + 1`. */
export function horizonsForLead(lead: number): number[] {
  return [...new Set([1, Math.max(1, Math.ceil((lead + 1) / 2)), lead + 1])].sort((a, b) => a - b);
}
