import { makePolicy, RISK_SETTINGS } from './policies.ts';
import type { MakePolicyOptions, PolicyName } from './policies.ts';
import { runReplay } from './replay.ts';
import type { ReplayData } from './setup.ts';
import type { FrontierPoint } from './frontier.ts';

/**
 * Replays `policy` once per value of its risk setting (quantile, HPA
 * target, RL throttle price, static peak factor, oracle headroom) and
 * returns the cost/throttling points. The objective is always priced at
 * the replay's own throttle price, so points are comparable.
 */
export function sweepPolicy(
  data: ReplayData,
  policy: PolicyName,
  options: Omit<MakePolicyOptions, 'setting'> & { settings?: readonly number[] } = {},
): FrontierPoint[] {
  const settings = options.settings ?? RISK_SETTINGS[policy].sweep;
  return settings.map((setting) => {
    const r = runReplay(data, makePolicy(policy, data, { ...options, setting }));
    return { setting, cost: r.cost, throttledFraction: r.throttledFraction, objective: r.objective };
  });
}
