import { invalidField } from '../errors.ts';
import { compileOptionsObject, optFiniteAtLeast } from '../options.ts';
import type { OptionParser, OptionSchema } from '../options.ts';
import type { CapacityPolicy, PolicyObservation } from './policy.ts';

/** Options of {@link HpaPolicy}; the defaults are Kubernetes' HPA defaults. */
export interface HpaOptions {
  /** Target utilisation of the held units. @default 0.7 */
  targetUtilization: number;
  /** How often the rule is evaluated (at least every step). @default 15000 */
  syncMs: number;
  /** Load is the mean demand over this window. @default 60000 */
  windowMs: number;
  /** A lower recommendation takes effect only once it is the highest of this window. @default 300000 */
  downscaleStabilizationMs: number;
  /** No change while |utilisation / target - 1| is within this. @default 0.1 */
  tolerance: number;
}

/** A fresh copy of the defaults. */
export function defaultHpaOptions(): HpaOptions {
  return {
    targetUtilization: 0.7,
    syncMs: 15_000,
    windowMs: 60_000,
    downscaleStabilizationMs: 300_000,
    tolerance: 0.1,
  };
}

/** A utilisation: a number in (0, 1]. */
const optUtilization: OptionParser<number> = (v, field) => {
  if (typeof v !== 'number' || !(v > 0 && v <= 1)) throw invalidField(field, 'a number in (0, 1]', v);
  return v;
};

const SCHEMA: OptionSchema<HpaOptions> = {
  targetUtilization: optUtilization,
  syncMs: optFiniteAtLeast(0),
  windowMs: optFiniteAtLeast(0),
  downscaleStabilizationMs: optFiniteAtLeast(0),
  tolerance: optFiniteAtLeast(0),
};

/**
 * Compiles HPA options over the defaults: unknown keys and bad values are
 * one InputError (code InvalidOptions) naming each; the result is frozen.
 */
export function compileHpaOptions(input: Partial<HpaOptions> = {}): Readonly<HpaOptions> {
  return compileOptionsObject('reactive', SCHEMA, defaultHpaOptions(), input);
}

/**
 * The reactive baseline: the Kubernetes Horizontal Pod Autoscaler rule
 * (`desired = ceil(current * utilisation / target)`, i.e. the last
 * minute's load at the target utilisation), evaluated every 15 s of trace
 * time or every step if steps are longer; scale-up at once, scale-down only
 * to the highest recommendation of the last 5 minutes.
 */
export class HpaPolicy implements CapacityPolicy {
  readonly name = 'reactive';
  readonly options: Readonly<HpaOptions>;
  #recent: number[] = [];
  #recs: { atMs: number; units: number }[] = [];
  #target = 0;

  /** @throws InputError (code InvalidOptions) for an unknown option or a bad value, naming each */
  constructor(options: Partial<HpaOptions> = {}) {
    this.options = compileHpaOptions(options);
  }

  decide(obs: PolicyObservation): number {
    const o = this.options;
    const windowSteps = Math.max(1, Math.round(o.windowMs / obs.stepMs));
    this.#recent.push(obs.demand);
    if (this.#recent.length > windowSteps) this.#recent.shift();
    const every = Math.max(1, Math.round(o.syncMs / obs.stepMs));
    if (obs.step % every !== 0 && this.#recs.length > 0) return this.#target;
    const load = this.#recent.reduce((s, x) => s + x, 0) / this.#recent.length;
    const current = obs.readyUnits + obs.startingUnits;
    let desired = Math.max(0, Math.ceil(load / (obs.unitCapacity * o.targetUtilization) - 1e-9));
    if (current > 0 && Math.abs(load / (current * obs.unitCapacity * o.targetUtilization) - 1) <= o.tolerance)
      desired = current;
    this.#recs.push({ atMs: obs.nowMs, units: desired });
    while (this.#recs.length > 0 && this.#recs[0]!.atMs <= obs.nowMs - o.downscaleStabilizationMs)
      this.#recs.shift();
    this.#target = this.#recs.reduce((m, r) => Math.max(m, r.units), 0);
    return this.#target;
  }
}
