import { unitsFor } from '../lib/index.ts';
import type { CapacityPolicy, PolicyObservation } from '../lib/index.ts';

/**
 * The limit: knows the future demand exactly and provisions with the same
 * lead time as everyone else, holding at the end of step t what the steps
 * `t+1 .. t+1+lead` need (scaled by `headroom`, which the sweep lowers to
 * trade throttling for cost).
 */
export class OraclePolicy implements CapacityPolicy {
  readonly name = 'oracle';
  constructor(
    readonly demand: Float64Array,
    readonly headroom = 1,
  ) {}
  decide(obs: PolicyObservation): number {
    let peak = 0;
    const end = Math.min(this.demand.length - 1, obs.step + 1 + obs.leadSteps);
    for (let i = obs.step + 1; i <= end; i++) peak = Math.max(peak, this.demand[i]!);
    return unitsFor(peak * this.headroom, obs.unitCapacity);
  }
}
