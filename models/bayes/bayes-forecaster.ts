import type { Forecaster, QuantileForecast, SeriesView } from '../types.ts';
import { emptyForecast } from '../types.ts';
import { BayesNet } from './network.ts';
import type { BnNodeSpec } from './network.ts';
import { learnStructure } from './structure.ts';
import {
  BURST_STATES,
  BnNode,
  EVENT_STATES,
  TOW_STATES,
  TREND_STATES,
  bin,
  originEvidence,
  timeOfWeekBand,
} from './discretize.ts';

/** Settings of {@link BayesForecaster}. */
export interface BayesForecasterOptions {
  horizons: readonly number[];
  /** Demand-level bins (by quantiles of the training ratios). @default 8 */
  demandLevels: number;
  /** Current-level bins. @default 5 */
  currentLevels: number;
  /** @default 48 */
  scaleWindow: number;
  /** Most training rows per fit (the most recent). @default 20000 */
  maxRows: number;
  /** Dirichlet pseudo-count per CPT row. @default 2 */
  alpha: number;
  /** Learn the structure by hill climbing on BIC instead of the default one. @default false */
  learnStructure: boolean;
  /** Burst: demand over this many times the scale within the horizon. @default 2 */
  burstRatio: number;
}

interface HorizonModel {
  net: BayesNet;
  /** Inner edges of the demand bins, and the outer bounds for interpolation. */
  edges: Float64Array;
  lo: number;
  hi: number;
  currentEdges: Float64Array;
  memo: Map<number, [number, number, number]>;
}

function quantiles(xs: Float64Array, k: number): Float64Array {
  const a = Float64Array.from(xs).sort();
  return Float64Array.from({ length: k - 1 }, (_v, i) => a[Math.floor(((i + 1) / k) * (a.length - 1))]!);
}

/** The quantile `q` of a binned distribution, uniform within each bin. */
export function binnedQuantile(
  p: ArrayLike<number>,
  edges: ArrayLike<number>,
  lo: number,
  hi: number,
  q: number,
): number {
  let acc = 0;
  for (let b = 0; b < p.length; b++) {
    const next = acc + p[b]!;
    if (next >= q || b === p.length - 1) {
      const left = b === 0 ? lo : edges[b - 1]!;
      const right = b === p.length - 1 ? hi : edges[b]!;
      const f = p[b]! > 0 ? Math.min(1, Math.max(0, (q - acc) / p[b]!)) : 0.5;
      return left + f * (right - left);
    }
    acc = next;
  }
  return hi;
}

/**
 * Forecasts with one discrete Bayesian network per horizon: demand level
 * (the target over the token's scale, binned) and burst given time-of-week
 * band, event level, user segment, region, recent trend and current level.
 * Quantiles come from the posterior over demand levels. Also answers
 * burst probabilities and cold-start forecasts from calendar evidence alone.
 */
export class BayesForecaster implements Forecaster {
  readonly name = 'bayes';
  readonly horizons: readonly number[];
  readonly options: BayesForecasterOptions;
  models: HorizonModel[] = [];
  #floors: number[] = [];

  constructor(options: Partial<BayesForecasterOptions> & { horizons: readonly number[] }) {
    this.options = {
      demandLevels: 8,
      currentLevels: 5,
      scaleWindow: 48,
      maxRows: 20_000,
      alpha: 2,
      learnStructure: false,
      burstRatio: 2,
      ...options,
    };
    this.horizons = this.options.horizons;
  }

  /** The default structure: demand and burst depend on calendar, event, trend and current level. */
  static structure(demandLevels: number, currentLevels: number): BnNodeSpec[] {
    const levels = (k: number, p: string): string[] => Array.from({ length: k }, (_v, i) => `${p}${i}`);
    return [
      { name: BnNode.TimeOfWeek, states: TOW_STATES, parents: [] },
      { name: BnNode.Event, states: EVENT_STATES, parents: [] },
      { name: BnNode.Segment, states: ['all'], parents: [] },
      { name: BnNode.Region, states: ['all'], parents: [] },
      { name: BnNode.Trend, states: TREND_STATES, parents: [BnNode.Event] },
      { name: BnNode.Current, states: levels(currentLevels, 'c'), parents: [BnNode.Event] },
      {
        name: BnNode.Demand,
        states: levels(demandLevels, 'd'),
        parents: [BnNode.TimeOfWeek, BnNode.Current, BnNode.Trend, BnNode.Event],
      },
      { name: BnNode.Burst, states: BURST_STATES, parents: [BnNode.Current, BnNode.Event, BnNode.Trend] },
    ];
  }

  async fit(data: readonly SeriesView[]): Promise<void> {
    const o = this.options;
    this.#floors = data.map((d) => {
      let s = 0;
      for (const x of d.values) s += Math.abs(x);
      return (0.1 * s) / Math.max(1, d.values.length);
    });
    const models: HorizonModel[] = [];
    for (const h of this.horizons) {
      const ev: { tok: number; o: number; e: ReturnType<typeof originEvidence>; y: number; burst: number }[] =
        [];
      const per = Math.ceil(o.maxRows / Math.max(1, data.length));
      data.forEach((d, tok) => {
        for (let t = Math.max(o.scaleWindow, d.values.length - 1 - h - per); t + h < d.values.length; t++) {
          const e = originEvidence(d, t, o.scaleWindow, this.#floors[tok]!);
          let peak = 0;
          for (let i = t + 1; i <= t + h; i++) peak = Math.max(peak, d.values[i]!);
          ev.push({
            tok,
            o: t,
            e,
            y: d.values[t + h]! / e.scale,
            burst: peak > o.burstRatio * e.scale ? 1 : 0,
          });
        }
      });
      if (ev.length < 50) return;
      const ys = Float64Array.from(ev, (r) => r.y);
      const edges = quantiles(ys, o.demandLevels);
      const currentEdges = quantiles(
        Float64Array.from(ev, (r) => r.e.ratio),
        o.currentLevels,
      );
      const sorted = Float64Array.from(ys).sort();
      const rows = ev.map((r) => [
        timeOfWeekBand(
          data[r.tok]!.timestamps[r.o]! + h * (data[r.tok]!.timestamps[1]! - data[r.tok]!.timestamps[0]!),
        ),
        r.e.event,
        0,
        0,
        r.e.trend,
        bin(r.e.ratio, currentEdges),
        bin(r.y, edges),
        r.burst,
      ]);
      let spec = BayesForecaster.structure(o.demandLevels, o.currentLevels);
      if (o.learnStructure)
        spec = learnStructure(
          spec.map((n) => ({ ...n, parents: [] })),
          rows,
          {
            maxParents: 4,
            forbidden: spec.flatMap((a) =>
              [BnNode.Demand, BnNode.Burst].map((b) => [b, a.name] as [string, string]),
            ),
          },
        );
      const net = new BayesNet(spec);
      net.fit(rows, o.alpha);
      models.push({
        net,
        edges,
        currentEdges,
        lo: sorted[0]!,
        hi: sorted[Math.floor(0.999 * (sorted.length - 1))]!,
        memo: new Map(),
      });
    }
    this.models = models;
  }

  async predict(data: readonly SeriesView[], from: number, to: number): Promise<QuantileForecast[]> {
    const out = data.map(() => emptyForecast(this.horizons.length, to - from));
    if (this.models.length !== this.horizons.length) return out;
    data.forEach((d, tok) => {
      const step = d.timestamps.length > 1 ? d.timestamps[1]! - d.timestamps[0]! : 0;
      for (let t = from; t < to; t++) {
        const e = originEvidence(d, t, this.options.scaleWindow, this.#floors[tok] ?? 0);
        this.horizons.forEach((h, hi) => {
          const m = this.models[hi]!;
          const tow = timeOfWeekBand(d.timestamps[t]! + h * step);
          const cur = bin(e.ratio, m.currentEdges);
          const key = ((tow * 3 + e.event) * 3 + e.trend) * 64 + cur;
          let q = m.memo.get(key);
          if (!q) {
            const p = m.net.query(BnNode.Demand, {
              [BnNode.TimeOfWeek]: tow,
              [BnNode.Event]: e.event,
              [BnNode.Trend]: e.trend,
              [BnNode.Current]: cur,
            });
            q = [0.1, 0.5, 0.9].map((x) => binnedQuantile(p, m.edges, m.lo, m.hi, x)) as [
              number,
              number,
              number,
            ];
            m.memo.set(key, q);
          }
          out[tok]!.p10[hi]![t - from] = q[0] * e.scale;
          out[tok]!.p50[hi]![t - from] = q[1] * e.scale;
          out[tok]!.p90[hi]![t - from] = q[2] * e.scale;
        });
      }
    });
    return out;
  }

  /** P(burst within horizon index `hi` | evidence at the latest slot of `view`). */
  burstProbability(view: SeriesView, hi: number): number {
    const m = this.models[hi];
    if (!m) return Number.NaN;
    const o = view.values.length - 1;
    const e = originEvidence(view, o, this.options.scaleWindow, 0);
    return m.net.query(BnNode.Burst, {
      [BnNode.Event]: e.event,
      [BnNode.Trend]: e.trend,
      [BnNode.Current]: bin(e.ratio, m.currentEdges),
    })[1]!;
  }

  /**
   * Cold start: quantiles of demand for a token with no history, from the
   * target's time-of-week alone, relative to `typicalLevel` (e.g. the median
   * level of comparable tokens).
   */
  coldStart(targetMs: number, hi: number, typicalLevel: number): [number, number, number] {
    const m = this.models[hi];
    if (!m) return [Number.NaN, Number.NaN, Number.NaN];
    const p = m.net.query(BnNode.Demand, { [BnNode.TimeOfWeek]: timeOfWeekBand(targetMs) });
    return [0.1, 0.5, 0.9].map((x) => binnedQuantile(p, m.edges, m.lo, m.hi, x) * typicalLevel) as [
      number,
      number,
      number,
    ];
  }
}
