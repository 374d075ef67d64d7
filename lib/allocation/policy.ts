import { levelAtZ, unitsFor } from './provisioning.ts';

/**
 * Forecast quantiles of demand (requests per step) at each horizon (in
 * steps), for one token or summed over a pool's tokens.
 */
export interface PoolWants {
  horizons: readonly number[];
  p10: readonly number[];
  p50: readonly number[];
  p90: readonly number[];
}

/** What a capacity policy sees at the end of each step. */
export interface PolicyObservation {
  /** Index of the step that just ended. */
  step: number;
  /** Clock time of the decision (end of the step), ms since the epoch. */
  nowMs: number;
  stepMs: number;
  /** Requests per step one unit serves. */
  unitCapacity: number;
  /** Units asked for now serve from step `step + 1 + leadSteps`. */
  leadSteps: number;
  /** Demand, served and throttled requests of the step that just ended. */
  demand: number;
  served: number;
  throttled: number;
  readyUnits: number;
  startingUnits: number;
  /** The pool's summed forecast at this origin. */
  wants: PoolWants;
}

/** Chooses how many units a pool should hold (ready or starting) from now on. */
export interface CapacityPolicy {
  readonly name: string;
  /** Target units; the manager clamps to the pool's min and max. */
  decide(obs: PolicyObservation): number;
}

/**
 * Units that cover the forecast at `z` spreads above the median at every
 * horizon up to the lead: the maximum over horizons, so that a unit needed
 * before new ones could be ready is not released.
 */
export function unitsForWants(wants: PoolWants, unitCapacity: number, z: number): number {
  let units = 0;
  for (let h = 0; h < wants.horizons.length; h++) {
    const level = levelAtZ(wants.p10[h]!, wants.p50[h]!, wants.p90[h]!, z);
    if (Number.isFinite(level)) units = Math.max(units, unitsFor(level, unitCapacity));
  }
  return units;
}

/** Sums per-token wants horizon by horizon (all must share the same horizons). */
export function sumWants(all: readonly PoolWants[], horizons: readonly number[]): PoolWants {
  const p10 = new Array<number>(horizons.length).fill(0);
  const p50 = new Array<number>(horizons.length).fill(0);
  const p90 = new Array<number>(horizons.length).fill(0);
  for (const w of all) {
    for (let h = 0; h < horizons.length; h++) {
      // A summed quantile is the quantile of the sum when tokens move
      // together (comonotone); for independent tokens it over-provisions
      // a little, the safe side.
      p10[h]! += w.p10[h] ?? 0;
      p50[h]! += w.p50[h] ?? 0;
      p90[h]! += w.p90[h] ?? 0;
    }
  }
  return { horizons, p10, p50, p90 };
}

/**
 * The index of the horizon a decision taken now provisions for: the first
 * at or past `leadSteps + 1` (units asked for now serve from then), else the
 * last; -1 when there are no horizons.
 */
export function leadHorizon(wants: PoolWants, leadSteps: number): number {
  const i = wants.horizons.findIndex((h) => h >= leadSteps + 1);
  return i >= 0 ? i : wants.horizons.length - 1;
}
