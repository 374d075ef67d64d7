import type { Forecaster, QuantileForecast, SeriesView } from './types.ts';
import { emptyForecast } from './types.ts';
import { AdaptiveInterval, localScale } from './calibration.ts';
import type { CalibrationSample } from './calibration.ts';
import { HybridCombiner } from './hybrid.ts';
import { nonNegative } from './baselines/index.ts';

/** Options of {@link rollingForecast}. */
export interface RollingOptions {
  horizons: readonly number[];
  /** First scored origin. */
  scoreFrom: number;
  /** Last scored origin (inclusive). */
  scoreTo: number;
  /** Compute the hybrid over all members. @default true */
  hybrid?: boolean;
  /** Origins per block: models refit and intervals recalibrate at each block start. @default about 1/40 of the run */
  blockSize?: number;
  /** Validation origins used for calibration and hybrid weights. @default min(10000, 40% of scoreFrom), at least 50 */
  validation?: number;
  /** Slots in the causal local scale of calibration scores. @default 12 */
  scaleWindow?: number;
  /**
   * The normaliser of the hybrid's conformal scores: the members' weighted
   * p10..p90 width (LSTM and Bayesian network: their spread, calibrated),
   * or the local level as for the other models. @default 'residual'
   */
  hybridSpread?: 'members' | 'residual';
  /** Step of the online interval offset, in score spreads (0 = plain split conformal). @default 0.05 */
  adaptRate?: number;
  /** Called after each block with origins done and total. */
  onProgress?: (done: number, total: number) => void;
}

/** Everything a rolling run produced, for scoring and output. */
export interface RollingResult {
  /** Origins `runFrom..runTo-1` were forecast; only the score range is judged. */
  runFrom: number;
  runTo: number;
  /** Per model, per token, calibrated forecasts indexed by `origin - runFrom`. */
  forecasts: Map<string, QuantileForecast[]>;
  /** Milliseconds spent in fit + predict, per model. */
  timings: Record<string, { fitMs: number; predictMs: number }>;
  /** Hybrid weights at the end of the run. */
  hybridWeights?: Record<string, (number | string)[]>;
  blockSize: number;
}

function views(series: readonly Float64Array[], timestamps: Float64Array, len: number): SeriesView[] {
  return series.map((v) => ({ values: v.subarray(0, len), timestamps: timestamps.subarray(0, len) }));
}

/**
 * Online rolling-origin evaluation: the run is cut into blocks; at the start
 * `b` of each block every model refits on slots `0..b` only, then forecasts
 * the block's origins, each of which reads its own past only. Intervals are
 * calibrated, and hybrid weights fitted, on earlier origins whose targets
 * `o + h <= b` are already known: there is no look-ahead anywhere.
 */
export async function rollingForecast(
  models: readonly Forecaster[],
  series: readonly Float64Array[],
  timestamps: Float64Array,
  options: RollingOptions,
): Promise<RollingResult> {
  const hs = options.horizons;
  const n = timestamps.length;
  const maxH = Math.max(...hs);
  const validation =
    options.validation ?? Math.max(50, Math.min(10_000, Math.floor(0.4 * options.scoreFrom)));
  const runFrom = Math.max(Math.min(24, options.scoreFrom), options.scoreFrom - validation - maxH);
  const runTo = Math.min(n, options.scoreTo + 1);
  const len = Math.max(0, runTo - runFrom);
  const blockSize = options.blockSize ?? Math.max(1, Math.ceil(len / 40));
  const k = options.scaleWindow ?? 12;
  const raw = new Map<string, QuantileForecast[]>();
  const out = new Map<string, QuantileForecast[]>();
  const timings: RollingResult['timings'] = {};
  const names = models.map((m) => m.name);
  const withHybrid = options.hybrid ?? true;
  const spreadFromMembers = (options.hybridSpread ?? 'residual') === 'members';
  const all = withHybrid ? [...names, 'hybrid'] : names;
  for (const name of all) {
    raw.set(
      name,
      series.map(() => emptyForecast(hs.length, len)),
    );
    out.set(
      name,
      series.map(() => emptyForecast(hs.length, len)),
    );
    timings[name] = { fitMs: 0, predictMs: 0 };
  }
  const combiner = new HybridCombiner(names, hs.length);
  const intervals = new Map<string, AdaptiveInterval>();
  const floors = series.map((v) => {
    let s = 0;
    for (let i = 0; i < runFrom; i++) s += Math.abs(v[i]!);
    return Math.max(1e-9, (0.1 * s) / Math.max(1, runFrom));
  });
  const scaleAt = (tok: number, o: number): number => localScale(series[tok]!, o, k, floors[tok]!);
  // The hybrid's normaliser: the members' weighted p10..p90 width (the
  // LSTM's and the Bayesian network's own uncertainty), floored by a
  // twentieth of the local level; other models use the local level.
  const width = series.map(() => hs.map(() => new Float64Array(len).fill(Number.NaN)));
  const scaleOf =
    (name: string, tok: number, hi: number) =>
    (o: number): number => {
      const s = scaleAt(tok, o);
      if (name !== 'hybrid') return s;
      const w = width[tok]![hi]![o - runFrom]!;
      return Number.isFinite(w) && w > 0 ? Math.max(w, 0.05 * s) : s;
    };
  const nonNeg = series.map((v) => nonNegative(v, runFrom));

  for (let b = runFrom; b < runTo; b += blockSize) {
    const e = Math.min(runTo, b + blockSize);
    const past = views(series, timestamps, b + 1);
    const block = views(series, timestamps, e);
    for (const m of models) {
      const t0 = performance.now();
      await m.fit(past);
      const t1 = performance.now();
      const f = await m.predict(block, b, e);
      const t2 = performance.now();
      timings[m.name]!.fitMs += t1 - t0;
      timings[m.name]!.predictMs += t2 - t1;
      const store = raw.get(m.name)!;
      f.forEach((tf, tok) => {
        for (let h = 0; h < hs.length; h++) {
          store[tok]!.p10[h]!.set(tf.p10[h]!, b - runFrom);
          store[tok]!.p50[h]!.set(tf.p50[h]!, b - runFrom);
          store[tok]!.p90[h]!.set(tf.p90[h]!, b - runFrom);
        }
      });
    }
    if (withHybrid) {
      const t0 = performance.now();
      hs.forEach((h, hi) => {
        const { idx } = validationOrigins(b, h, validation, runFrom, series.length);
        const y = Float64Array.from(idx, ([tok, o]) => series[tok]![o + h]!);
        const f = names.map((nm) =>
          Float64Array.from(idx, ([tok, o]) => raw.get(nm)![tok]!.p50[hi]![o - runFrom]!),
        );
        combiner.fitHorizon(hi, f, y);
      });
      const hyb = raw.get('hybrid')!;
      // Re-express the hybrid over the validation origins too, so that its
      // calibration below is fitted with the weights it will be used with.
      const lo = Math.max(runFrom, b - validation - maxH);
      for (let tok = 0; tok < series.length; tok++) {
        for (let hi = 0; hi < hs.length; hi++) {
          for (let o = lo; o < e; o++) {
            const j = o - runFrom;
            const p50s = names.map((nm) => raw.get(nm)![tok]!.p50[hi]![j]!);
            const p50 = combiner.combine(hi, p50s);
            hyb[tok]!.p50[hi]![j] = p50;
            if (spreadFromMembers) {
              const [lo10, hi90] = combiner.spread(
                hi,
                names.map((nm) => raw.get(nm)![tok]!.p10[hi]![j]!),
                p50s,
                names.map((nm) => raw.get(nm)![tok]!.p90[hi]![j]!),
              );
              width[tok]![hi]![j] = hi90 - lo10;
            }
          }
        }
      }
      timings.hybrid!.fitMs += performance.now() - t0;
    }
    for (const name of all) {
      const r = raw.get(name)!;
      const c = out.get(name)!;
      for (let tok = 0; tok < series.length; tok++) {
        const v = series[tok]!;
        hs.forEach((h, hi) => {
          const ival =
            intervals.get(`${name}|${tok}|${hi}`) ??
            new AdaptiveInterval({ rate: options.adaptRate ?? 0.05 });
          intervals.set(`${name}|${tok}|${hi}`, ival);
          const scale = scaleOf(name, tok, hi);
          ival.refit(samples(r[tok]!, hi, h, b, validation, runFrom, v, scale));
          for (let o = b; o < e; o++) {
            // The outcome of origin o - h is known at o: feed it back first.
            const back = o - h - runFrom;
            if (back >= 0) ival.observe(v[o]!, c[tok]!.p10[hi]![back]!, c[tok]!.p90[hi]![back]!);
            const j = o - runFrom;
            const [p10, p50, p90] = ival.apply(
              r[tok]!.p10[hi]![j]!,
              r[tok]!.p50[hi]![j]!,
              r[tok]!.p90[hi]![j]!,
              scale(o),
              nonNeg[tok]!,
            );
            c[tok]!.p10[hi]![j] = p10;
            c[tok]!.p50[hi]![j] = p50;
            c[tok]!.p90[hi]![j] = p90;
          }
        });
      }
    }
    options.onProgress?.(e - runFrom, len);
  }
  const result: RollingResult = { runFrom, runTo, forecasts: out, timings, blockSize };
  if (withHybrid) result.hybridWeights = combiner.toJSON();
  return result;
}

/** Validation pairs (token, origin), in time order, whose target `o + h <= b` is known, the most recent `count` per token. */
function validationOrigins(
  b: number,
  h: number,
  count: number,
  runFrom: number,
  tokens: number,
): { idx: [number, number][] } {
  const idx: [number, number][] = [];
  const last = b - h;
  const first = Math.max(runFrom, last - count + 1);
  // Origin-major, so that a split of the list is a split in time.
  for (let o = first; o <= last; o++) for (let tok = 0; tok < tokens; tok++) idx.push([tok, o]);
  return { idx };
}

function samples(
  f: QuantileForecast,
  hi: number,
  h: number,
  b: number,
  count: number,
  runFrom: number,
  values: Float64Array,
  scaleAt: (o: number) => number,
): CalibrationSample[] {
  const out: CalibrationSample[] = [];
  const last = b - h;
  for (let o = Math.max(runFrom, last - count + 1); o <= last; o++) {
    const j = o - runFrom;
    const p50 = f.p50[hi]![j]!;
    if (!Number.isFinite(p50)) continue;
    out.push({ y: values[o + h]!, p10: f.p10[hi]![j]!, p50, p90: f.p90[hi]![j]!, scale: scaleAt(o) });
  }
  return out;
}
