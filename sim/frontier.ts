/** One point of a cost/throttling frontier. */
export interface FrontierPoint {
  setting: number;
  cost: number;
  throttledFraction: number;
  objective: number;
}

/** The Pareto front: by rising cost, each point throttling strictly less than every cheaper one. */
export function paretoFront(points: readonly FrontierPoint[]): FrontierPoint[] {
  const sorted = [...points].sort((a, b) => a.cost - b.cost || a.throttledFraction - b.throttledFraction);
  const out: FrontierPoint[] = [];
  for (const p of sorted)
    if (out.length === 0 || p.throttledFraction < out[out.length - 1]!.throttledFraction) out.push(p);
  return out;
}

/**
 * Throttled fraction the front reaches at `cost` (linear between points);
 * NaN below its cheapest point, its last point's fraction above its dearest.
 */
export function throttleAtCost(points: readonly FrontierPoint[], cost: number): number {
  const f = paretoFront(points);
  if (f.length === 0 || cost < f[0]!.cost) return Number.NaN;
  for (let i = 1; i < f.length; i++) {
    const a = f[i - 1]!;
    const b = f[i]!;
    if (cost <= b.cost)
      return (
        a.throttledFraction +
        ((cost - a.cost) / (b.cost - a.cost)) * (b.throttledFraction - a.throttledFraction)
      );
  }
  return f[f.length - 1]!.throttledFraction;
}

/**
 * Cost at which the front reaches throttled fraction `fraction` (linear
 * between points); NaN if it never throttles that little, its cheapest
 * point's cost if even that throttles less.
 */
export function costAtThrottle(points: readonly FrontierPoint[], fraction: number): number {
  const f = paretoFront(points);
  if (f.length === 0 || fraction < f[f.length - 1]!.throttledFraction - 1e-15) return Number.NaN;
  if (fraction >= f[0]!.throttledFraction) return f[0]!.cost;
  for (let i = 1; i < f.length; i++) {
    const a = f[i - 1]!;
    const b = f[i]!;
    if (fraction >= b.throttledFraction) {
      const span = a.throttledFraction - b.throttledFraction;
      return span > 0 ? a.cost + ((a.throttledFraction - fraction) / span) * (b.cost - a.cost) : b.cost;
    }
  }
  return f[f.length - 1]!.cost;
}
