import { invalidField } from '../lib/index.ts';
import type { Clock } from '../lib/index.ts';
import {
  ForecastFeedback,
  SeasonalProfile,
  leadHorizon,
  leaseBurst,
  leaseRate,
  seasonalLift,
  shareWithSpare,
  sumWants,
} from '../lib/index.ts';
import type { CapacityPolicy, Claim, HorizonFeedback, Lease, LeaseLimits, PoolWants } from '../lib/index.ts';

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
  /**
   * How far leases may move the tokens' limits (lib `LeaseLimits`):
   * `raise-only` lowers a token below its rule only when the pool is at
   * `maxUnits` and short; `protect` hands out the fair share of the ready
   * capacity, whatever the rule. @default "raise-only"
   */
  limits?: LeaseLimits;
  /**
   * Steps in a season (a day of steps, normally): the pool remembers its
   * demand per step for one season and plans at least the last season's
   * demand around each horizon, scaled to today's level (lib
   * `SeasonalProfile`). 0 or absent: no seasonal floor.
   */
  seasonSteps?: number;
}

/** What a token sends its pool manager: its forecast quantiles per horizon. */
export interface TokenWant {
  token: string;
  /** Rule priority; the weight under contention (at least 1 is sensible). */
  priority: number;
  wants: PoolWants;
  /** The token's own demand in the step just ended, for the feedback loop. */
  actual?: number;
  /**
   * The token's rule limit: `rate` requests per `periodMs`, up to `burst`
   * at once. With it the lease is in requests per `periodMs` and policy
   * `raise-only` keeps the lease at or above it; without it the lease is
   * per step, the fair share. With `burst` the lease carries its own burst
   * (lib `leaseBurst`: the rule's tolerance in time at the lease's rate);
   * without it the token keeps its rule's.
   */
  limit?: { rate: number; periodMs: number; burst?: number };
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
  /** Token and rate (lease; per the token's rule period when it sent its limit, else per step). */
  token?: string;
  rate?: number;
  expiresAtMs?: number;
  /** Why: the policy's ask and the figures behind it (provision, release), how the rate came about (lease). */
  reason?: string;
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
  /** The seasonal floor under the summed forecast (lib `seasonalLift`); null while it has no season. */
  seasonal: { ratio: number; lift: number } | null;
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
  if (c.limits !== undefined && !LIMITS.includes(c.limits))
    throw invalidField('pool.limits', `one of ${LIMITS.join(', ')}`, c.limits);
  if (
    c.seasonSteps !== undefined &&
    c.seasonSteps !== 0 &&
    !(Number.isInteger(c.seasonSteps) && c.seasonSteps >= 4)
  )
    throw invalidField('pool.seasonSteps', 'an integer >= 4 (or 0: none)', c.seasonSteps);
}

const LIMITS: readonly string[] = ['raise-only', 'protect'];

/** A figure for a reason line: at most 3 decimals. */
const fig = (x: number): string => String(Math.round(x * 1000) / 1000);

/** Why the pool moves to `target` units: the policy's ask, the clamp, the figures behind it. */
function reasonOf(
  policy: string,
  raw: number,
  target: number,
  c: PoolConfig,
  wants: PoolWants,
  fb: StepFeedback,
  seasonal: TickResult['seasonal'],
): string {
  const ask = Number.isFinite(raw) ? fig(raw) : String(raw);
  let why = `policy ${policy} asked for ${ask} units`;
  if (Number.isFinite(raw) && Math.round(raw) > c.maxUnits) why += `, capped at maxUnits ${c.maxUnits}`;
  else if (!Number.isFinite(raw) || Math.round(raw) < c.minUnits) why += `, held at minUnits ${c.minUnits}`;
  const h = leadHorizon(wants, c.leadSteps);
  if (h >= 0)
    why +=
      `; forecast p50 ${fig(wants.p50[h] ?? 0)}, p90 ${fig(wants.p90[h] ?? 0)} requests per step` +
      ` ${wants.horizons[h]} step(s) ahead`;
  if (seasonal !== null && seasonal.lift > 0)
    why += ` (lifted ${fig(seasonal.lift)} to the last season's demand then, x${fig(seasonal.ratio)} for today's level)`;
  why += `; last step ${fig(fb.demand)} requests, ${fig(fb.throttled)} throttled`;
  return `${why}; ${target} units of ${fig(c.unitCapacity)} per step`;
}

/** How a lease's rate came about, for its decision record. */
function leaseReason(
  ctx: { limits: LeaseLimits; shortAtMax: boolean },
  share: number,
  rulePerStep: number | undefined,
  rate: number,
): string {
  if (rulePerStep === undefined) return `fair share ${fig(share)} per step (no rule limit sent)`;
  if (rate > share) return `${ctx.limits}: the rule's limit, above the fair share ${fig(share)} per step`;
  if (rate >= rulePerStep) return `fair share ${fig(share)} per step, at or above the rule's limit`;
  return ctx.limits === 'protect'
    ? `protect: fair share ${fig(share)} per step, below the rule's limit`
    : `raise-only: at maxUnits and short: fair share ${fig(share)} per step, below the rule's limit`;
}

/**
 * Owns one resource pool. Tokens send their wants; on each tick the manager
 * sums them per horizon, floors the sum at the last season's demand when
 * it keeps a season (`seasonSteps`: what carries a daily ramp), asks its policy for the capacity to hold, drives
 * the provider (which starts units a lead time ahead), and grants each
 * token a lease by weighted max-min fair share of the ready capacity,
 * bounded by the pool's `limits` (under the default `raise-only` a lease
 * goes below the token's rule only when the pool is at `maxUnits` and
 * short). Every provision, release and changed lease goes to the sink with
 * the forecast and the reason behind it. Pure: time comes from the
 * injected clock.
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
  readonly #season: SeasonalProfile | undefined;
  /** The step whose end the next tick decides (wants sent before it belong to it). */
  #step = -1;

  constructor(
    config: PoolConfig,
    deps: { clock: Clock; provider: ResourceProvider; policy: CapacityPolicy; sink?: DecisionSink },
  ) {
    checkConfig(config);
    this.config = Object.freeze({ ...config, limits: config.limits ?? 'raise-only' });
    this.#clock = deps.clock;
    this.#provider = deps.provider;
    this.#policy = deps.policy;
    this.#sink = deps.sink ?? (() => {});
    if (config.seasonSteps !== undefined && config.seasonSteps > 0)
      this.#season = new SeasonalProfile(config.seasonSteps);
  }

  /**
   * The pool's seasonal memory (undefined without `seasonSteps`): its runner
   * checkpoints it and restores it from the previous manager's checkpoint.
   */
  get season(): SeasonalProfile | undefined {
    return this.#season;
  }

  /** Records (or replaces) a token's wants. All tokens must use the same horizons. */
  want(w: TokenWant): void {
    if (!(Number.isFinite(w.priority) && w.priority > 0))
      throw invalidField(`want[${w.token}].priority`, 'a positive number', w.priority);
    if (w.limit !== undefined) {
      if (!(Number.isFinite(w.limit.rate) && w.limit.rate > 0))
        throw invalidField(`want[${w.token}].limit.rate`, 'a positive number', w.limit.rate);
      if (!(Number.isFinite(w.limit.periodMs) && w.limit.periodMs > 0))
        throw invalidField(`want[${w.token}].limit.periodMs`, 'a positive number', w.limit.periodMs);
      const burst = w.limit.burst;
      if (burst !== undefined && !(Number.isFinite(burst) && burst >= 1))
        throw invalidField(`want[${w.token}].limit.burst`, 'a number >= 1', burst);
    }
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
    const summed = sumWants(
      [...this.#wants.values()].map((w) => w.wants),
      this.#horizons,
    );
    // The step that just ended, on the clock's step grid (the tick comes at or a moment after its end).
    const ended = Math.floor(now / c.stepMs) - 1;
    let wants = summed;
    let seasonal: TickResult['seasonal'] = null;
    if (this.#season !== undefined) {
      // A step no token reported is unknown, not a quiet one: a pool starting (or restarting)
      // mid-day has no yesterday for those hours, and 0 there would inflate today's ratio.
      if (this.#wants.size > 0) this.#season.observe(ended, Math.max(0, feedback.demand));
      const f = this.#season.forecast(ended, summed.horizons);
      if (f !== null) {
        const lifted = seasonalLift(summed, f.values);
        wants = lifted.wants;
        seasonal = { ratio: f.ratio, lift: lifted.lift };
      }
    }
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
    // The first tick compares with the units the provider held: a first step's scale-up is one too.
    const from = this.#target >= 0 ? this.#target : held;
    if (target !== from) {
      this.#sink({
        kind: target > from ? 'provision' : 'release',
        pool: c.name,
        atMs: now,
        policy: this.#policy.name,
        fromUnits: from,
        toUnits: target,
        readyUnits: ready,
        startingUnits: starting,
        reason: reasonOf(this.#policy.name, raw, target, c, wants, feedback, seasonal),
        forecast: wants,
      });
    }
    this.#target = target;
    this.#grantLeases(now, { ready, starting, demand: feedback.demand }, wants);
    return { target, readyUnits: ready, startingUnits: starting, wants, seasonal };
  }

  #grantLeases(now: number, at: { ready: number; starting: number; demand: number }, pool: PoolWants): void {
    if (this.#wants.size === 0) return;
    const c = this.config;
    const capacity = at.ready * c.unitCapacity;
    const claims: Claim[] = [];
    let claimed = 0;
    for (const w of this.#wants.values()) {
      // A token claims its nearest-horizon p90 (its median if it has no spread).
      const p90 = w.wants.p90[0];
      const raw = Number.isFinite(p90) ? p90! : (w.wants.p50[0] ?? 0);
      const want = Math.max(0, Number.isFinite(raw) ? raw : 0);
      claimed += want;
      claims.push({ id: w.token, want, weight: w.priority });
    }
    // Short at maxUnits: the pool can grow no further and what is wanted (or was asked) exceeds it.
    const shortAtMax = at.ready >= c.maxUnits && Math.max(claimed, at.demand) > capacity + 1e-9;
    const ctx = { limits: c.limits ?? 'raise-only', shortAtMax };
    const shares = shareWithSpare(capacity, claims);
    for (const [token, share] of shares) {
      const limit = this.#wants.get(token)?.limit;
      // Shares are per step; a token that sent its rule's limit gets its lease per the rule's period.
      const perStep = limit === undefined ? undefined : (limit.rate * c.stepMs) / limit.periodMs;
      const stepRate = leaseRate(share, perStep, ctx);
      const rate = limit === undefined ? stepRate : (stepRate * limit.periodMs) / c.stepMs;
      const prev = this.#leases.get(token);
      const lease: Lease = { token, rate, grantedAtMs: now, expiresAtMs: now + c.leaseTtlMs };
      // A raised rate keeps the rule's burst tolerance in time, not its burst count (lib leaseBurst).
      if (limit?.burst !== undefined)
        lease.burst = leaseBurst(
          rate,
          { rate: limit.rate, periodMs: limit.periodMs, burst: limit.burst },
          c.stepMs,
        );
      this.#leases.set(token, lease);
      // Record a lease when it is new or its rate moved by more than 5 %.
      if (prev === undefined || Math.abs(rate - prev.rate) > 0.05 * Math.max(prev.rate, 1e-9))
        this.#sink({
          kind: 'lease',
          pool: c.name,
          atMs: now,
          policy: this.#policy.name,
          readyUnits: at.ready,
          startingUnits: at.starting,
          token,
          rate,
          expiresAtMs: lease.expiresAtMs,
          reason: leaseReason(ctx, share, perStep, stepRate),
          forecast: pool,
        });
    }
  }
}
