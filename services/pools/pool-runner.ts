/**
 * One pool's manager, run by the pool's owner node: a {@link PoolManager}
 * over the provider its kind names, ticked every `stepMs` on the node's
 * clock with the demand and denials its tokens reported during the step.
 * The manager decides on each token's wants as the pool plans for them
 * (lib/allocation `planWants`): the forecast read at the pool's horizons up
 * to `leadMs` plus one step, interpolated between the forecasters' own
 * horizons, and lifted to the rising trend of the token's recent demand.
 * Every scale-up and scale-down is one info line (`event` scale-up or
 * scale-down) with the pool, the units, the forecast and its horizon, the
 * trend lift, the policy and why.
 */
import type { ServiceBroker } from 'moleculer';
import { PoolManager } from '../../actors/index.ts';
import type { AllocationDecision, ResourceProvider, TickResult, TokenWant } from '../../actors/index.ts';
import {
  HpaPolicy,
  QuantilePolicy,
  StaticPolicy,
  invalidField,
  leadHorizon,
  planWants,
  toHeadroomError,
} from '../../lib/index.ts';
import type { CapacityPolicy, Clock, Lease, PoolWants, TimerHandle } from '../../lib/index.ts';
// Entry files: models/ loads TensorFlow.js only when a model needs it.
import { RlPolicy } from '../../models/index.ts';
import { SimulatedProvider } from '../../sim/index.ts';
import { logEvent } from '../runtime/index.ts';
import type { PoolSpec } from './pools-config.ts';
import { DbProvider, ProcessProvider } from './providers/index.ts';

/** A token's want as sent on the wire: its denials of the last step come with it. */
export interface WireWant extends TokenWant {
  /** Requests of the token denied in the step just ended. */
  denied?: number;
}

/**
 * The pool's summed forecast (as planned: interpolated, trend-lifted) at the
 * horizon its units are decided for, `leadMs` plus one step: requests per
 * second, horizon in ms.
 */
export interface PoolForecast {
  p10: number;
  p50: number;
  p90: number;
  horizonMs: number;
}

/** The forecast of summed `wants` (per step) a decision with `leadSteps` looks at; null with none. */
export function poolForecastOf(wants: PoolWants, leadSteps: number, stepMs: number): PoolForecast | null {
  const h = leadHorizon(wants, leadSteps);
  if (h < 0) return null;
  const perSecond = (v: number | undefined): number => ((v ?? 0) * 1000) / stepMs;
  return {
    p10: perSecond(wants.p10[h]),
    p50: perSecond(wants.p50[h]),
    p90: perSecond(wants.p90[h]),
    horizonMs: wants.horizons[h]! * stepMs,
  };
}

/** The logger a runner writes to (the broker's `pools` logger). */
export interface PoolLog {
  info(...a: unknown[]): void;
  warn(...a: unknown[]): void;
}

/** What `pools.status` reports per pool (owner side). */
export interface PoolRunStatus {
  target: number;
  ready: number;
  starting: number;
  leases: number;
  /** Requests the pool's tokens reported in the last step that ended (0 before the first). */
  demand: number;
  lastDecision: AllocationDecision | null;
  /** The forecast behind the last tick's decision; null before the first or with no tokens. */
  forecast: PoolForecast | null;
  /** Kind `process`: node ids of the ready workers, the units a TrafficRouter (traffic.ts) routes to. */
  units?: string[];
}

function policyOf(spec: PoolSpec): CapacityPolicy {
  switch (spec.policy) {
    case 'quantile':
      return new QuantilePolicy(spec.quantile);
    case 'reactive':
      return new HpaPolicy();
    case 'static':
      return new StaticPolicy(spec.maxUnits);
    case 'rl':
      // A table trained offline on replayed traces, refined online from here on.
      return spec.rlState === null
        ? new RlPolicy({ throttlePrice: spec.throttlePrice })
        : RlPolicy.fromJSON(spec.rlState, { throttlePrice: spec.throttlePrice });
  }
}

const round3 = (x: number): number => Math.round(x * 1000) / 1000;

type Closable = ResourceProvider & { close?: () => Promise<void> };

function providerOf(
  spec: PoolSpec,
  broker: ServiceBroker,
  clock: Clock,
  onError: (e: Error) => void,
  workerEnv?: Readonly<Record<string, string>>,
): Closable {
  if (spec.kind === 'db' && spec.db !== null) return new DbProvider(spec.db, { clock, onError });
  if (spec.kind === 'process' && spec.process !== null)
    return new ProcessProvider(spec.process, {
      broker,
      clock,
      onError,
      ...(workerEnv === undefined ? {} : { env: workerEnv }),
    });
  return new SimulatedProvider({ leadMs: spec.leadMs, initialUnits: spec.minUnits });
}

/** Steps a token may stay silent before the manager forgets its wants. */
const FORGET_STEPS = 3;

/**
 * How many of a token's last actual demands (one per step) its trend is
 * fitted on: about one lead and two steps, at least 3 (a line through two
 * points has no error to test its slope against), at most 8 (older steps
 * would slow the response to a ramp).
 */
export function trendSteps(leadSteps: number): number {
  return Math.min(8, Math.max(3, leadSteps + 2));
}

export class PoolRunner {
  readonly spec: PoolSpec;
  readonly #clock: Clock;
  readonly #manager: PoolManager;
  readonly #provider: Closable;
  readonly #log: PoolLog;
  readonly #leadSteps: number;
  readonly #seen = new Map<string, number>();
  /** Each token's last actual demands (per step, oldest first), for its trend. */
  readonly #recent = new Map<string, number[]>();
  /** Per token, how far its trend lifted its median at the last horizon this step (per step). */
  readonly #lifts = new Map<string, number>();
  readonly #trendSteps: number;
  #timer: TimerHandle | undefined;
  #step = 0;
  #demand = 0;
  #throttled = 0;
  #last: TickResult | undefined;
  #lastDemand = 0;
  #lastDecision: AllocationDecision | null = null;
  #stopped = false;

  constructor(
    spec: PoolSpec,
    deps: {
      broker: ServiceBroker;
      clock: Clock;
      sink: (d: AllocationDecision) => void;
      log: PoolLog;
      /** Environment for `process` workers (the node's NATS credentials). */
      workerEnv?: Readonly<Record<string, string>>;
    },
  ) {
    this.spec = spec;
    this.#clock = deps.clock;
    this.#log = deps.log;
    this.#leadSteps = Math.ceil(spec.leadMs / spec.stepMs);
    this.#trendSteps = trendSteps(this.#leadSteps);
    this.#provider = providerOf(
      spec,
      deps.broker,
      deps.clock,
      (e) => deps.log.warn(`pool ${spec.name}: ${e.message}`),
      deps.workerEnv,
    );
    this.#manager = new PoolManager(
      {
        name: spec.name,
        // The file says requests per second; the manager counts per step.
        unitCapacity: (spec.unitCapacity * spec.stepMs) / 1000,
        minUnits: spec.minUnits,
        maxUnits: spec.maxUnits,
        stepMs: spec.stepMs,
        leadSteps: this.#leadSteps,
        leaseTtlMs: spec.leaseTtlMs,
        limits: spec.limits,
      },
      {
        clock: deps.clock,
        provider: this.#provider,
        policy: policyOf(spec),
        sink: (d) => {
          this.#lastDecision = d;
          if (d.kind !== 'lease') this.#logScale(d);
          deps.sink(d);
        },
      },
    );
    this.#arm();
  }

  /**
   * One info line per scale-up or scale-down: the forecast the decision looked
   * at (`leadMs` plus one step ahead, per second), its horizon, how much the
   * tokens' trends lifted it, the policy and the manager's reason.
   */
  #logScale(d: AllocationDecision): void {
    const event = d.kind === 'provision' ? 'scale-up' : 'scale-down';
    const forecast = poolForecastOf(d.forecast, this.#leadSteps, this.spec.stepMs);
    let lift = 0;
    for (const l of this.#lifts.values()) lift += l;
    const trend = { tokens: this.#lifts.size, liftPerSecond: round3((lift * 1000) / this.spec.stepMs) };
    const reason =
      trend.tokens === 0
        ? (d.reason ?? '')
        : `${d.reason ?? ''}; the rising trend of ${trend.tokens} token(s) lifted the forecast by ` +
          `${trend.liftPerSecond}/s at ${forecast?.horizonMs ?? 0} ms`;
    logEvent(
      this.#log,
      event,
      {
        pool: d.pool,
        fromUnits: d.fromUnits,
        toUnits: d.toUnits,
        readyUnits: d.readyUnits,
        startingUnits: d.startingUnits,
        forecast,
        horizonMs: forecast?.horizonMs ?? null,
        trend,
        policy: d.policy,
        limits: this.spec.limits,
        reason,
      },
      `pool ${d.pool}: ${event} from ${d.fromUnits} to ${d.toUnits} units (${reason})`,
    );
  }

  #arm(): void {
    if (this.#stopped) return;
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      try {
        this.tick();
      } catch (err) {
        this.#log.warn(`pool ${this.spec.name} tick: ${toHeadroomError(err).message}`);
      }
      this.#arm();
    }, this.spec.stepMs);
  }

  /** Records the tokens' wants; returns the leases they hold (granted on earlier ticks). */
  want(wants: readonly WireWant[]): Lease[] {
    const leases: Lease[] = [];
    for (const w of wants) {
      try {
        const { denied, ...want } = w;
        const plan = planWants(want.wants, this.#leadSteps, this.#recentOf(w.token, w.actual));
        this.#manager.want({ ...want, wants: plan.wants });
        if (plan.lift > 0) this.#lifts.set(w.token, plan.lift);
        else this.#lifts.delete(w.token);
        this.#seen.set(w.token, this.#step);
        this.#demand += Math.max(0, w.actual ?? 0);
        this.#throttled += Math.max(0, denied ?? 0);
      } catch (err) {
        this.#log.warn(`pool ${this.spec.name}: want of ${w.token} refused: ${toHeadroomError(err).message}`);
        continue;
      }
      const lease = this.#manager.lease(w.token);
      if (lease !== undefined) leases.push(lease);
    }
    return leases;
  }

  /** The token's recent actual demands, `actual` (when sent) appended. */
  #recentOf(token: string, actual: number | undefined): number[] {
    let recent = this.#recent.get(token);
    if (recent === undefined) this.#recent.set(token, (recent = []));
    if (actual !== undefined && Number.isFinite(actual)) {
      recent.push(Math.max(0, actual));
      if (recent.length > this.#trendSteps) recent.shift();
    }
    return recent;
  }

  /** Ends the step: decides units and leases from what the tokens reported. */
  tick(): TickResult {
    for (const [token, step] of this.#seen) {
      if (this.#step - step >= FORGET_STEPS) {
        this.#manager.forget(token);
        this.#seen.delete(token);
        this.#recent.delete(token);
        this.#lifts.delete(token);
      }
    }
    const demand = this.#demand;
    this.#lastDemand = demand;
    const throttled = Math.min(this.#throttled, demand);
    this.#demand = 0;
    this.#throttled = 0;
    this.#last = this.#manager.tick({ step: this.#step++, demand, served: demand - throttled, throttled });
    return this.#last;
  }

  status(): PoolRunStatus {
    const now = this.#clock.now();
    return {
      target: this.#last?.target ?? 0,
      ready: this.#provider.readyUnits(now),
      starting: this.#provider.startingUnits(now),
      leases: [...this.#seen.keys()].filter((t) => this.#manager.lease(t) !== undefined).length,
      demand: this.#lastDemand,
      lastDecision: this.#lastDecision,
      forecast:
        this.#last === undefined ? null : poolForecastOf(this.#last.wants, this.#leadSteps, this.spec.stepMs),
      ...(this.#provider instanceof ProcessProvider ? { units: this.#provider.readyNodeIDs() } : {}),
    };
  }

  /** Stops ticking and closes the provider (connections closed, processes stopped). */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#provider.close?.();
  }
}

/** Checks `pools.want` params: `{pool: string, wants: WireWant[]}`. */
export function checkWantParams(p: unknown): { pool: string; wants: WireWant[] } {
  const o = p as { pool?: unknown; wants?: unknown } | null;
  if (typeof o?.pool !== 'string' || o.pool === '') throw invalidField('pool', 'a pool name', o?.pool);
  if (!Array.isArray(o.wants)) throw invalidField('wants', 'a list of token wants', o.wants);
  o.wants.forEach((w: unknown, i) => {
    const x = w as Partial<WireWant> | null;
    if (typeof x?.token !== 'string') throw invalidField(`wants[${i}].token`, 'a token', x?.token);
    const wants = x.wants as Partial<WireWant['wants']> | undefined;
    for (const k of ['horizons', 'p10', 'p50', 'p90'] as const)
      if (!Array.isArray(wants?.[k]))
        throw invalidField(`wants[${i}].wants.${k}`, 'a list of numbers', wants?.[k]);
    const limit = x.limit as Partial<NonNullable<WireWant['limit']>> | null | undefined;
    if (limit !== undefined) {
      if (typeof limit?.rate !== 'number' || !(limit.rate > 0 && Number.isFinite(limit.rate)))
        throw invalidField(`wants[${i}].limit.rate`, 'a positive number', limit?.rate);
      if (typeof limit.periodMs !== 'number' || !(limit.periodMs > 0 && Number.isFinite(limit.periodMs)))
        throw invalidField(`wants[${i}].limit.periodMs`, 'a positive number', limit.periodMs);
    }
  });
  return o as { pool: string; wants: WireWant[] };
}
