import { invalidField } from '../lib/index.ts';
import type { Clock } from '../lib/index.ts';
import { ForecastFeedback, shareWithSpare, sumWants } from '../lib/index.ts';
import type { CapacityPolicy, Claim, HorizonFeedback, Lease, PoolWants } from '../lib/index.ts';

/**
 * Where a pool's units come from. The replay uses a simulated provider that
 * honours start-up lead time (sim/); production plugs in:
 * - `db`: a generic-pool of `pg` connections, `setUnits` moving the pool's
 *   `min`/`max` (units = connections, ready = idle + busy opened ones,
 *   starting = connections being opened);
 * - `process`: worker processes (Moleculer nodes) spawned and stopped, ready
 *   once they answer a health action, start-up time measured;
 * - an orchestrator (Kubernetes scale subresource, a cloud autoscaling group)
 *   behind the same three calls.
 */
export interface ResourceProvider {
  /** Asks for `target` units in all (ready plus starting); never blocks. */
  setUnits(target: number, nowMs: number): void;
  /** Units able to serve at `nowMs`. */
  readyUnits(nowMs: number): number;
  /** Units asked for but not ready yet at `nowMs`. */
  startingUnits(nowMs: number): number;
}

/** Static description of a pool. */
export interface PoolConfig {
  name: string;
  /** Requests per step one unit serves. */
  unitCapacity: number;
  minUnits: number;
  maxUnits: number;
  /** Length of one decision step. */
  stepMs: number;
  /** Units asked for at the end of step t serve from step t + 1 + leadSteps. */
  leadSteps: number;
  /** Lifetime of a lease; tokens refresh before it ends. */
  leaseTtlMs: number;
}

/** What a token sends its pool manager: its forecast quantiles per horizon. */
export interface TokenWant {
  token: string;
  /** Rule priority; the weight under contention (at least 1 is sensible). */
  priority: number;
  wants: PoolWants;
  /** The token's own demand in the step just ended, for the feedback loop. */
  actual?: number;
}

/** A recorded decision, with the forecast that led to it (goes to the store). */
export interface AllocationDecision {
  kind: 'provision' | 'release' | 'lease';
  pool: string;
  atMs: number;
  policy: string;
  /** Units held before and after (provision, release). */
  fromUnits?: number;
  toUnits?: number;
  readyUnits: number;
  startingUnits: number;
  /** Token and rate (lease). */
  token?: string;
  rate?: number;
  expiresAtMs?: number;
  forecast: PoolWants;
}

/** Receives every decision; the production sink writes to the store. */
export type DecisionSink = (decision: AllocationDecision) => void;

/** Realised load of the step that just ended. */
export interface StepFeedback {
  step: number;
  demand: number;
  served: number;
  throttled: number;
}

/** What one {@link PoolManager.tick} did. */
export interface TickResult {
  target: number;
  readyUnits: number;
  startingUnits: number;
  wants: PoolWants;
}

function checkConfig(c: PoolConfig): void {
  if (!(c.unitCapacity > 0)) throw invalidField('pool.unitCapacity', 'a positive number', c.unitCapacity);
  if (!(Number.isInteger(c.minUnits) && c.minUnits >= 0))
    throw invalidField('pool.minUnits', 'an integer >= 0', c.minUnits);
  if (!(Number.isInteger(c.maxUnits) && c.maxUnits >= c.minUnits))
    throw invalidField('pool.maxUnits', `an integer >= minUnits (${c.minUnits})`, c.maxUnits);
  if (!(c.stepMs > 0)) throw invalidField('pool.stepMs', 'a positive number', c.stepMs);
  if (!(Number.isInteger(c.leadSteps) && c.leadSteps >= 0))
    throw invalidField('pool.leadSteps', 'an integer >= 0', c.leadSteps);
  if (!(c.leaseTtlMs > 0)) throw invalidField('pool.leaseTtlMs', 'a positive number', c.leaseTtlMs);
}

/**
 * Owns one resource pool. Tokens send their wants; on each tick the manager
 * sums them per horizon, asks its policy for the capacity to hold, drives
 * the provider (which starts units a lead time ahead), and grants each
 * token a lease by weighted max-min fair share of the ready capacity.
 * Every provision, release and changed lease goes to the sink with the
 * forecast behind it. Pure: time comes from the injected clock.
 */
export class PoolManager {
  readonly config: Readonly<PoolConfig>;
  readonly #clock: Clock;
  readonly #provider: ResourceProvider;
  readonly #policy: CapacityPolicy;
  readonly #sink: DecisionSink;
  readonly #wants = new Map<string, TokenWant>();
  readonly #leases = new Map<string, Lease>();
  #target = -1;
  readonly #poolFeedback = new ForecastFeedback();
  readonly #tokenFeedback = new Map<string, ForecastFeedback>();
  #horizons: readonly number[] = [];
  /** The step whose end the next tick decides (wants sent before it belong to it). */
  #step = -1;

  constructor(
    config: PoolConfig,
    deps: { clock: Clock; provider: ResourceProvider; policy: CapacityPolicy; sink?: DecisionSink },
  ) {
    checkConfig(config);
    this.config = Object.freeze({ ...config });
    this.#clock = deps.clock;
    this.#provider = deps.provider;
    this.#policy = deps.policy;
    this.#sink = deps.sink ?? (() => {});
  }

  /** Records (or replaces) a token's wants. All tokens must use the same horizons. */
  want(w: TokenWant): void {
    if (!(Number.isFinite(w.priority) && w.priority > 0))
      throw invalidField(`want[${w.token}].priority`, 'a positive number', w.priority);
    if (this.#wants.size === 0 || (this.#wants.size === 1 && this.#wants.has(w.token)))
      this.#horizons = w.wants.horizons;
    else if (w.wants.horizons.join() !== this.#horizons.join())
      throw invalidField(
        `want[${w.token}].horizons`,
        `the pool's horizons ${this.#horizons.join(',')}`,
        w.wants.horizons,
      );
    this.#wants.set(w.token, w);
    if (w.actual !== undefined && this.#step >= 0) {
      let fb = this.#tokenFeedback.get(w.token);
      if (!fb) this.#tokenFeedback.set(w.token, (fb = new ForecastFeedback()));
      fb.observe(this.#step, w.actual);
      fb.record(this.#step, w.wants);
    }
  }

  /**
   * Forecast error per horizon, for the pool and for each token that sends
   * its actual demand: the feedback loop's input to the trainer's retraining
   * trigger. (The policy's reward comes from realised cost and throttling.)
   */
  feedback(): { pool: HorizonFeedback[]; tokens: Record<string, HorizonFeedback[]> } {
    const tokens: Record<string, HorizonFeedback[]> = {};
    for (const [t, fb] of this.#tokenFeedback) tokens[t] = fb.snapshot();
    return { pool: this.#poolFeedback.snapshot(), tokens };
  }

  /** Drops a token (passivated); its lease runs out on its own. */
  forget(token: string): void {
    this.#wants.delete(token);
  }

  /** The token's current lease, if any (it may have expired: see `effectiveLimit`). */
  lease(token: string): Lease | undefined {
    return this.#leases.get(token);
  }

  /** Decides capacity and leases at the end of a step. */
  tick(feedback: StepFeedback): TickResult {
    const now = this.#clock.now();
    const c = this.config;
    const wants = sumWants(
      [...this.#wants.values()].map((w) => w.wants),
      this.#horizons,
    );
    this.#poolFeedback.observe(feedback.step, feedback.demand);
    this.#poolFeedback.record(feedback.step, wants);
    this.#step = feedback.step + 1;
    const readyBefore = this.#provider.readyUnits(now);
    const startingBefore = this.#provider.startingUnits(now);
    const raw = this.#policy.decide({
      step: feedback.step,
      nowMs: now,
      stepMs: c.stepMs,
      unitCapacity: c.unitCapacity,
      leadSteps: c.leadSteps,
      demand: feedback.demand,
      served: feedback.served,
      throttled: feedback.throttled,
      readyUnits: readyBefore,
      startingUnits: startingBefore,
      wants,
    });
    const target = Math.min(
      c.maxUnits,
      Math.max(c.minUnits, Math.round(Number.isFinite(raw) ? raw : c.minUnits)),
    );
    const held = readyBefore + startingBefore;
    if (target !== held) this.#provider.setUnits(target, now);
    const ready = this.#provider.readyUnits(now);
    const starting = this.#provider.startingUnits(now);
    if (target !== this.#target && this.#target >= 0) {
      this.#sink({
        kind: target > this.#target ? 'provision' : 'release',
        pool: c.name,
        atMs: now,
        policy: this.#policy.name,
        fromUnits: this.#target,
        toUnits: target,
        readyUnits: ready,
        startingUnits: starting,
        forecast: wants,
      });
    }
    this.#target = target;
    this.#grantLeases(now, ready * c.unitCapacity, wants, ready, starting);
    return { target, readyUnits: ready, startingUnits: starting, wants };
  }

  #grantLeases(now: number, capacity: number, pool: PoolWants, ready: number, starting: number): void {
    if (this.#wants.size === 0) return;
    const claims: Claim[] = [];
    for (const w of this.#wants.values()) {
      // A token claims its nearest-horizon p90 (its median if it has no spread).
      const p90 = w.wants.p90[0];
      const want = Number.isFinite(p90) ? p90! : (w.wants.p50[0] ?? 0);
      claims.push({ id: w.token, want: Math.max(0, Number.isFinite(want) ? want : 0), weight: w.priority });
    }
    const shares = shareWithSpare(capacity, claims);
    for (const [token, rate] of shares) {
      const prev = this.#leases.get(token);
      const lease: Lease = { token, rate, grantedAtMs: now, expiresAtMs: now + this.config.leaseTtlMs };
      this.#leases.set(token, lease);
      // Record a lease when it is new or its rate moved by more than 5 %.
      if (prev === undefined || Math.abs(rate - prev.rate) > 0.05 * Math.max(prev.rate, 1e-9))
        this.#sink({
          kind: 'lease',
          pool: this.config.name,
          atMs: now,
          policy: this.#policy.name,
          readyUnits: ready,
          startingUnits: starting,
          token,
          rate,
          expiresAtMs: lease.expiresAtMs,
          forecast: pool,
        });
    }
  }
}
