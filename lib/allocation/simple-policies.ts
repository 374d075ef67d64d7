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

/**
 * Lets another policy's target fall only once it has stayed lower for
 * `steps` decisions: the highest of its last `steps` targets. A unit
 * released now could not be back within the pool's start-up lead, so a dip
 * shorter than that (a lumpy second of demand, a noisy forecast) must not
 * release what the next steps need (pools hold for `leadSteps + 1`). A rise
 * passes at once. The reactive policy has its own, longer hold (HPA's
 * downscale stabilisation).
 */
export class HoldDownPolicy implements CapacityPolicy {
  readonly name: string;
  readonly #inner: CapacityPolicy;
  readonly #steps: number;
  readonly #recent: number[] = [];

  constructor(inner: CapacityPolicy, steps: number) {
    if (!(Number.isInteger(steps) && steps >= 1))
      throw invalidField('holdDown.steps', 'an integer >= 1', steps);
    this.name = inner.name;
    this.#inner = inner;
    this.#steps = steps;
  }

  decide(obs: PolicyObservation): number {
    const units = this.#inner.decide(obs);
    // No answer (NaN) asks for the pool's minimum, as the manager reads it: 0 here.
    this.#recent.push(Number.isFinite(units) ? units : 0);
    if (this.#recent.length > this.#steps) this.#recent.shift();
    return Math.max(...this.#recent);
  }
}
