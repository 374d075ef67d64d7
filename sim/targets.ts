import { costAtThrottle, throttleAtCost } from './frontier.ts';
import type { FrontierPoint } from './frontier.ts';
import { makePolicy } from './policies.ts';
import type { PolicyName } from './policies.ts';
import { runReplay } from './replay.ts';
import type { ReplayResult } from './replay.ts';
import type { ReplayData } from './setup.ts';
import { sweepPolicy } from './sweep.ts';

/** Issue 5's four comparisons of the RL policy on one replay. */
export interface TargetRatios {
  /** RL throttled fraction at the reactive cost / reactive throttled fraction (target <= 0.5). */
  throttleRatioAtReactiveCost: number;
  /** RL cost at the reactive throttled fraction / reactive cost (target <= 0.8). */
  costRatioAtReactiveThrottle: number;
  /** RL cost / oracle cost at RL's throttled fraction (target <= 1.15). */
  costRatioVsOracle: number;
  /** RL objective / best fixed quantile's objective (target <= 1.05). */
  objectiveRatioVsBestQuantile: number;
}

/** The bounds of {@link TargetRatios}: a ratio at or below its bound meets the target. */
export const TARGET_BOUNDS: Readonly<TargetRatios> = Object.freeze({
  throttleRatioAtReactiveCost: 0.5,
  costRatioAtReactiveThrottle: 0.8,
  costRatioVsOracle: 1.15,
  objectiveRatioVsBestQuantile: 1.05,
});

/** What {@link evaluateTargets} returns: the ratios and what they were read from. */
export interface TargetEvaluation extends TargetRatios {
  /** Each policy at its default risk setting. */
  results: Record<string, ReplayResult>;
  /** Frontier points of the swept policies. */
  sweeps: Record<string, FrontierPoint[]>;
  bestQuantile: FrontierPoint;
}

/**
 * Runs every policy at its default setting and sweeps the risk settings of
 * reactive, quantile, RL and oracle, then reads the targets off the fronts:
 * RL's front is its throttle-price sweep, the oracle's its headroom sweep.
 */
export function evaluateTargets(
  data: ReplayData,
  policies: readonly PolicyName[] = ['static', 'reactive', 'quantile', 'rl', 'oracle'],
): TargetEvaluation {
  const results: Record<string, ReplayResult> = {};
  for (const p of new Set<PolicyName>([...policies, 'reactive', 'rl']))
    results[p] = runReplay(data, makePolicy(p, data));
  const sweeps: Record<string, FrontierPoint[]> = {};
  for (const p of ['reactive', 'quantile', 'rl', 'oracle'] as const) sweeps[p] = sweepPolicy(data, p);
  const re = results['reactive']!;
  const rl = results['rl']!;
  const bestQuantile = sweeps['quantile']!.reduce((a, b) => (b.objective < a.objective ? b : a));
  return {
    results,
    sweeps,
    bestQuantile,
    throttleRatioAtReactiveCost: throttleAtCost(sweeps['rl']!, re.cost) / re.throttledFraction,
    costRatioAtReactiveThrottle: costAtThrottle(sweeps['rl']!, re.throttledFraction) / re.cost,
    costRatioVsOracle: rl.cost / costAtThrottle(sweeps['oracle']!, rl.throttledFraction),
    objectiveRatioVsBestQuantile: rl.objective / bestQuantile.objective,
  };
}
