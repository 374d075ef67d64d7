import { invalidField } from '../lib/index.ts';
import type { Trace } from '../lib/index.ts';
import { horizonsForLead, leadSteps, unitsFor } from '../lib/index.ts';
import { forecastTrace } from './forecasts.ts';
import type { ForecastTrack } from './forecasts.ts';

/** The resource model every policy of a replay shares. */
export interface ResourceModel {
  /** Requests per step one unit serves. */
  unitCapacity: number;
  /** Units asked for at the end of step t serve from step t + 1 + leadSteps. */
  leadSteps: number;
  /** Cost of one unit for one second (ready or starting). */
  unitCost: number;
  /** Price of one throttled request. */
  throttlePrice: number;
  /** Cost per unit added or removed. */
  churnCost: number;
  minUnits: number;
  maxUnits: number;
  /** Steps of the pool's season (its seasonal floor, as a live pool's `seasonMs`); 0: none. */
  seasonSteps: number;
}

/** Options of {@link prepareReplay}; anything left out gets a trace-independent default. */
export interface ReplaySetupOptions {
  /** @default mean demand of the warm-up / 10 (the mean needs about 10 units) */
  unitCapacity?: number;
  /** @default ceil(120 s / step): a two-minute start-up */
  leadSteps?: number;
  /** @default 1 */
  unitCost?: number;
  /** @default 10 x the capacity cost of one request at full use (newsvendor critical ratio 0.9) */
  throttlePrice?: number;
  /** @default 0 */
  churnCost?: number;
  /**
   * Steps of the pool's season (0: none). @default 0: on tw-KO the floor of
   * a day of 5-minute steps raised the quantile and RL policies' cost more
   * than it cut their throttling (bench/replay-eval.ts)
   */
  seasonSteps?: number;
  /** Forecaster name (`live`: the served forecaster, a baseline or `hybrid`). @default 'live' */
  forecaster?: string;
  /** Fraction of the trace used as warm-up (history for forecasts and static; not scored). @default 0.1 */
  warmupFraction?: number;
}

/** A trace ready to replay: pool demand, forecasts and the resource model. */
export interface ReplayData {
  timestamps: Float64Array;
  stepMs: number;
  tokens: string[];
  values: Float64Array[];
  /** Sum over tokens. */
  demand: Float64Array;
  forecasts: ForecastTrack;
  /** First scored step (end of warm-up). */
  start: number;
  model: ResourceModel;
  /** Peak demand of the warm-up (the static policy's level). */
  warmupPeak: number;
}

/** The default throttle price: ten times what serving one request costs at full utilisation. */
export function defaultThrottlePrice(unitCost: number, stepMs: number, unitCapacity: number): number {
  return (10 * unitCost * (stepMs / 1000)) / unitCapacity;
}

/** Computes the defaults of the resource model and the forecasts of a trace. */
export async function prepareReplay(trace: Trace, o: ReplaySetupOptions = {}): Promise<ReplayData> {
  const n = trace.timestamps.length;
  const frac = o.warmupFraction ?? 0.1;
  if (!(frac > 0 && frac < 0.9)) throw invalidField('warmupFraction', 'a number in (0, 0.9)', frac);
  const demand = new Float64Array(n);
  for (const v of trace.values) for (let i = 0; i < n; i++) demand[i]! += v[i]!;
  const start = Math.max(30, Math.floor(frac * n));
  if (start >= n - 2) throw invalidField('trace', `more than ${start + 2} slots`, n);
  let sum = 0;
  let peak = 0;
  for (let i = 0; i < start; i++) {
    sum += demand[i]!;
    peak = Math.max(peak, demand[i]!);
  }
  const unitCapacity = o.unitCapacity ?? Math.max(sum / start / 10, 1e-9);
  const lead = o.leadSteps ?? leadSteps(120_000, trace.intervalMs);
  const unitCost = o.unitCost ?? 1;
  const model: ResourceModel = {
    unitCapacity,
    leadSteps: lead,
    unitCost,
    throttlePrice: o.throttlePrice ?? defaultThrottlePrice(unitCost, trace.intervalMs, unitCapacity),
    churnCost: o.churnCost ?? 0,
    // As Kubernetes' minReplicas: a pool never scales to nothing.
    minUnits: 1,
    maxUnits: Math.max(1000, 100 * unitsFor(peak, unitCapacity)),
    seasonSteps: o.seasonSteps ?? 0,
  };
  const forecasts = await forecastTrace(trace, {
    horizons: horizonsForLead(lead),
    warmup: start,
    ...(o.forecaster === undefined ? {} : { forecaster: o.forecaster }),
  });
  return {
    timestamps: trace.timestamps,
    stepMs: trace.intervalMs,
    tokens: trace.tokens,
    values: trace.values,
    demand,
    forecasts,
    start,
    model,
    warmupPeak: peak,
  };
}
