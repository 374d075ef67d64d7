import { ErrorCode, InputError, show } from '../lib/index.ts';
import {
  HoldDownPolicy,
  HpaPolicy,
  QraBand,
  QraPolicy,
  QuantilePolicy,
  StaticPolicy,
  unitsFor,
} from '../lib/index.ts';
import type { CapacityPolicy } from '../lib/index.ts';
import { RlPolicy } from '../models/index.ts';
import type { RlPolicyJson } from '../models/index.ts';
import { OraclePolicy } from './oracle.ts';
import { runReplay } from './replay.ts';
import type { ReplayData } from './setup.ts';

/** The replay's policies, named as the CLI spells them. */
export const PolicyName = {
  Rl: 'rl',
  Quantile: 'quantile',
  Qra: 'qra',
  Reactive: 'reactive',
  Static: 'static',
  Oracle: 'oracle',
} as const;
export type PolicyName = (typeof PolicyName)[keyof typeof PolicyName];

/** All policy names. */
export const POLICY_NAMES: readonly PolicyName[] = Object.values(PolicyName);

/** The risk setting each policy's `--sweep` varies, and its default. */
export const RISK_SETTINGS: Record<PolicyName, { name: string; default: number; sweep: readonly number[] }> =
  {
    quantile: { name: 'quantile', default: 0.9, sweep: [0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995] },
    // Its levels are quantiles of the demand itself, so its front needs more of them.
    qra: {
      name: 'quantile',
      default: 0.9,
      sweep: [0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.93, 0.95, 0.97, 0.98, 0.99, 0.995],
    },
    reactive: { name: 'targetUtilization', default: 0.7, sweep: [0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1] },
    // Throttle price as a multiple of the capacity cost of one request at full use. The top
    // prices let the front reach the near-zero throttling of smooth traffic, where 3000 still
    // throttled more than the reactive rule's fraction and left that comparison unmeasured.
    rl: {
      name: 'throttlePriceRatio',
      default: 10,
      sweep: [1.25, 1.5, 2, 3, 5, 10, 20, 50, 100, 300, 1000, 3000, 10_000, 30_000],
    },
    static: { name: 'peakFactor', default: 1, sweep: [0.5, 0.75, 1, 1.25, 1.5] },
    oracle: { name: 'headroom', default: 1, sweep: [0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1, 1.05] },
  };

/** Options of {@link makePolicy}. */
export interface MakePolicyOptions {
  /** The policy's risk setting (see {@link RISK_SETTINGS}). */
  setting?: number;
  /** Quantile of the quantile policy (same as `setting`). */
  quantile?: number;
  /** A persisted RL policy to start from. */
  rlTable?: RlPolicyJson;
  /** Offline training episodes of the RL policy over the warm-up (past data only). @default 1 */
  rlPretrainEpisodes?: number;
  /** Exploration rate of the RL policy online. @default 0 */
  rlEpsilon?: number;
}

/** The capacity cost of one request at full utilisation. */
export function requestCapacityCost(data: ReplayData): number {
  return (data.model.unitCost * data.stepMs) / 1000 / data.model.unitCapacity;
}

/** Builds a policy for a replay of `data`. */
export function makePolicy(name: string, data: ReplayData, o: MakePolicyOptions = {}): CapacityPolicy {
  const m = data.model;
  switch (name) {
    case PolicyName.Reactive:
      return new HpaPolicy({ targetUtilization: o.setting ?? 0.7 });
    case PolicyName.Static:
      return new StaticPolicy(unitsFor(data.warmupPeak * (o.setting ?? 1), m.unitCapacity));
    case PolicyName.Quantile:
      // As a live pool runs it (services/pools/pool-runner.ts): held for a lead on a dip.
      return new HoldDownPolicy(new QuantilePolicy(o.setting ?? o.quantile ?? 0.9), m.leadSteps + 1);
    case PolicyName.Qra: {
      // As a live pool runs it; it learns its map from the warm-up first (past data only), as RL does.
      const qra = new HoldDownPolicy(
        new QraPolicy({ quantile: o.setting ?? o.quantile ?? 0.9 }),
        m.leadSteps + 1,
      );
      const from = data.forecasts.runFrom + 1;
      if (data.start - from > 2) runReplay(data, qra, { from, to: data.start });
      return qra;
    }
    case PolicyName.Oracle:
      return new OraclePolicy(data.demand, o.setting ?? 1);
    case PolicyName.Rl: {
      const price = o.setting === undefined ? m.throttlePrice : o.setting * requestCapacityCost(data);
      const opts = {
        unitCost: m.unitCost,
        throttlePrice: price,
        churnCost: m.churnCost,
        epsilon: o.rlEpsilon ?? 0,
      };
      const rl = o.rlTable ? RlPolicy.fromJSON(o.rlTable, opts) : new RlPolicy(opts);
      // As a live `rl` pool runs it: on the pool's own band (lib QraBand).
      const banded = new QraBand(rl);
      pretrainRl(rl, data, o.rlPretrainEpisodes ?? 1, undefined, banded);
      return banded;
    }
    default:
      throw new InputError(
        ErrorCode.InvalidOptions,
        `--policy must be one of ${POLICY_NAMES.join(', ')}, got ${show(name)}`,
        {
          field: '--policy',
          value: name,
        },
      );
  }
}

/**
 * Offline training: replays the warm-up stretch that has forecasts (past
 * data only, before the scored steps) `episodes` times, learning as it goes,
 * through `via` (a policy wrapping `rl`, e.g. its QraBand, which then learns
 * the warm-up too; again at each episode) or `rl` itself.
 */
export function pretrainRl(
  rl: RlPolicy,
  data: ReplayData,
  episodes: number,
  span?: { from: number; to: number },
  via: CapacityPolicy = rl,
): void {
  const from = span?.from ?? data.forecasts.runFrom + 1;
  const to = span?.to ?? data.start;
  for (let e = 0; e < episodes && to - from > 2; e++) {
    rl.resetEpisode();
    runReplay(data, via, { from, to });
  }
  rl.resetEpisode();
}
