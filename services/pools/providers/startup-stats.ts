/** Measured start-up times of a provider's units (connections, processes). */
export interface StartupStats {
  /** Units measured so far. */
  count: number;
  /** Null until one unit has started. */
  meanMs: number | null;
  p50Ms: number | null;
  /** The lead time to plan with: the slowest 10 % start later than this. */
  p90Ms: number | null;
  maxMs: number | null;
}

/** Summarises start-up samples (ms). */
export function startupStats(samples: readonly number[]): StartupStats {
  if (samples.length === 0) return { count: 0, meanMs: null, p50Ms: null, p90Ms: null, maxMs: null };
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number): number => s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
  return {
    count: s.length,
    meanMs: s.reduce((a, b) => a + b, 0) / s.length,
    p50Ms: at(0.5),
    p90Ms: at(0.9),
    maxMs: s[s.length - 1]!,
  };
}
