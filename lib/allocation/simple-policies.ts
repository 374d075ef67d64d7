import { invalidField } from '../errors.ts';
import { normalQuantile } from './provisioning.ts';
import { unitsForWants } from './policy.ts';
import type { CapacityPolicy, PolicyObservation } from './policy.ts';

/** Holds a fixed number of units (the replay's `static`: the warm-up peak). */
export class StaticPolicy implements CapacityPolicy {
  readonly name = 'static';
  constructor(readonly units: number) {
    if (!(Number.isInteger(units) && units >= 0))
      throw invalidField('static.units', 'an integer >= 0', units);
  }
  decide(): number {
    return this.units;
  }
}

/** Provisions for a fixed quantile of the pool's forecast at every horizon up to the lead. */
export class QuantilePolicy implements CapacityPolicy {
  readonly name = 'quantile';
  readonly #z: number;
  constructor(readonly quantile: number) {
    this.#z = normalQuantile(quantile);
  }
  decide(obs: PolicyObservation): number {
    return unitsForWants(obs.wants, obs.unitCapacity, this.#z);
  }
}
