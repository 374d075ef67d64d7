/**
 * One pool's manager, run by the pool's owner node: a {@link PoolManager}
 * over the provider its kind names, ticked once a step on the node's clock,
 * on the step grid every node shares (lib `tickAtMs`: a moment after the
 * tokens' rounds, which go out as each step ends), with the demand and
 * denials its tokens reported for the step. The manager decides on each
 * token's wants as the pool plans for them (lib/allocation `planWants`, as
 * a replay does): the forecast read at the pool's horizons up to `leadMs`
 * plus one step, interpolated between the forecasters' own horizons, as the
 * step's total (its mean when demand is sparse: a second's median is 0 when
 * most seconds are empty), and lifted to the rising trend of the token's
 * demand over its last seconds; the sum is floored at the last season's
 * demand (option `seasonMs`, a day by default). Wants that
 * arrive for the coming tick are answered after it, with the leases it
 * granted. Every scale-up and scale-down is one info line (`event` scale-up
 * or scale-down) with the pool, the units, the forecast and its horizon, the
 * trend lift, the policy and why.
 */
import type { ServiceBroker } from 'moleculer';
import { PoolManager } from '../../actors/index.ts';
import type { AllocationDecision, ResourceProvider, TickResult } from '../../actors/index.ts';
import {
  HoldDownPolicy,
  QraBand,
  QraPolicy,
  HpaPolicy,
  QuantilePolicy,
  StaticPolicy,
  leadHorizon,
  planWants,
  tickAtMs,
  toHeadroomError,
  untilStepPhase,
} from '../../lib/index.ts';
import type { CapacityPolicy, Clock, Lease, PoolWants, TimerHandle } from '../../lib/index.ts';
// Entry files: models/ loads TensorFlow.js only when a model needs it.
import { RlPolicy } from '../../models/index.ts';
import { SimulatedProvider } from '../../sim/index.ts';
import { logEvent } from '../runtime/index.ts';
import type { PoolSpec } from './pools-config.ts';
import type { WireWant } from './pool-wants.ts';
import { SeasonKeeper } from './season-keeper.ts';
import type { SeasonStatus } from './season-keeper.ts';
import type { SeasonStore } from './season-store.ts';
import { DbProvider, ProcessProvider } from './providers/index.ts';

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
  /** The pool's season, when it keeps one (option `seasonMs`), and its checkpoints (season-keeper.ts). */
  seasonal?: SeasonStatus;
}

function policyOf(spec: PoolSpec, leadSteps: number): CapacityPolicy {
  switch (spec.policy) {
    case 'quantile':
      // Units it would need again within a lead are not released on a dip (lib HoldDownPolicy).
      return new HoldDownPolicy(new QuantilePolicy(spec.quantile), leadSteps + 1);
    case 'qra':
      // Learns its map from the pool's own steps; the quantile policy decides until it has 200.
      return new HoldDownPolicy(new QraPolicy({ quantile: spec.quantile }), leadSteps + 1);
    case 'reactive':
      return new HpaPolicy();
    case 'static':
      return new StaticPolicy(spec.maxUnits);
    case 'rl':
      // A table trained offline on replayed traces, refined online from here on.
      // On the pool's own band once its maps are fitted (lib QraBand), as the replay trains it.
      return new QraBand(
        spec.rlState === null
          ? new RlPolicy({ throttlePrice: spec.throttlePrice })
          : RlPolicy.fromJSON(spec.rlState, { throttlePrice: spec.throttlePrice }),
      );
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

export class PoolRunner {
  readonly spec: PoolSpec;
  readonly #clock: Clock;
  readonly #manager: PoolManager;
  readonly #provider: Closable;
  readonly #log: PoolLog;
  readonly #leadSteps: number;
  readonly #seen = new Map<string, number>();
  /** Per token, how far its trend lifted its median at the last horizon this step (per step). */
  readonly #lifts = new Map<string, number>();
  /** Calls waiting for the coming tick's leases (see {@link decided}). */
  #waiting: Array<() => void> = [];
  #nextTickMs = Number.POSITIVE_INFINITY;
  #timer: TimerHandle | undefined;
  #step = 0;
  /**
   * Each token's demand and denials of its latest report: a want that came
   * too late for a tick counts at the next one (replaced by that step's own,
   * not added to it), and a step a token's want missed keeps its last report
   * rather than reading as no demand.
   */
  readonly #reported = new Map<string, { demand: number; throttled: number }>();
  #last: TickResult | undefined;
  #lastDemand = 0;
  #lastDecision: AllocationDecision | null = null;
  #stopped = false;
  readonly #season: SeasonKeeper | undefined;

  constructor(
    spec: PoolSpec,
    deps: {
      broker: ServiceBroker;
      clock: Clock;
      sink: (d: AllocationDecision) => void;
      log: PoolLog;
      /** Environment for `process` workers (the node's NATS credentials). */
      workerEnv?: Readonly<Record<string, string>>;
      /** Where the pool's season is checkpointed (see season-keeper.ts); none: it lives in memory only. */
      seasonStore?: SeasonStore;
      /** This node's id, written into the checkpoints. */
      nodeId?: string;
    },
  ) {
    this.spec = spec;
    this.#clock = deps.clock;
    this.#log = deps.log;
    this.#leadSteps = Math.ceil(spec.leadMs / spec.stepMs);
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
        seasonSteps: spec.seasonMs === null ? 0 : Math.round(spec.seasonMs / spec.stepMs),
      },
      {
        clock: deps.clock,
        provider: this.#provider,
        policy: policyOf(spec, this.#leadSteps),
        sink: (d) => {
          this.#lastDecision = d;
          if (d.kind !== 'lease') this.#logScale(d);
          deps.sink(d);
        },
      },
    );
    const profile = this.#manager.season;
    if (profile !== undefined) {
      this.#season = new SeasonKeeper({
        pool: spec.name,
        stepMs: spec.stepMs,
        profile,
        ...(deps.seasonStore === undefined ? {} : { store: deps.seasonStore }),
        node: deps.nodeId ?? 'unknown',
        clock: deps.clock,
        log: deps.log,
        everySteps: Math.max(1, Math.round(spec.seasonCheckpointMs / spec.stepMs)),
      });
      // The previous manager's season, taken where this one knows nothing newer (ticks may come first).
      void this.#season.recover();
    }
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
    // Reactive and static pools decide without the forecast: its lift explains nothing there.
    const planned = this.spec.policy !== 'reactive' && this.spec.policy !== 'static';
    const reason =
      trend.tokens === 0 || !planned
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

  /** The next tick, on the step grid (lib `tickAtMs`). */
  #arm(): void {
    if (this.#stopped) return;
    const now = this.#clock.now();
    const delay = untilStepPhase(now, this.spec.stepMs, tickAtMs(this.spec.stepMs));
    this.#nextTickMs = now + delay;
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      try {
        this.tick();
      } catch (err) {
        this.#log.warn(`pool ${this.spec.name} tick: ${toHeadroomError(err).message}`);
      }
      this.#arm();
    }, delay);
  }

  /**
   * Resolves once the wants just recorded were decided on: after the coming
   * tick when it is at most half a step away (the wants were sent for it),
   * at once otherwise (they came late, or the runner stopped).
   */
  decided(): Promise<void> {
    if (this.#stopped || this.#nextTickMs - this.#clock.now() > this.spec.stepMs / 2)
      return Promise.resolve();
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  /** The leases `tokens` hold (granted on earlier ticks; some may have expired). */
  leases(tokens: readonly string[]): Lease[] {
    const out: Lease[] = [];
    for (const t of tokens) {
      const lease = this.#manager.lease(t);
      if (lease !== undefined) out.push(lease);
    }
    return out;
  }

  /** Records the tokens' wants for the coming tick (a refused want is logged and skipped). */
  want(wants: readonly WireWant[]): void {
    for (const w of wants) {
      try {
        const { denied, perSecond, ...want } = w;
        // Wants come per step (a second's quantiles times the seconds of a step); perSecond is sampled by the second.
        const plan = planWants(want.wants, this.#leadSteps, perSecond ?? [], this.spec.stepMs, {
          sampleMs: 1000,
        });
        this.#manager.want({ ...want, wants: plan.wants });
        if (plan.lift > 0) this.#lifts.set(w.token, plan.lift);
        else this.#lifts.delete(w.token);
        this.#seen.set(w.token, this.#step);
        this.#reported.set(w.token, {
          demand: Math.max(0, w.actual ?? 0),
          throttled: Math.max(0, denied ?? 0),
        });
      } catch (err) {
        this.#log.warn(`pool ${this.spec.name}: want of ${w.token} refused: ${toHeadroomError(err).message}`);
      }
    }
  }

  /** Ends the step: decides units and leases from what the tokens reported. */
  tick(): TickResult {
    for (const [token, step] of this.#seen) {
      if (this.#step - step >= FORGET_STEPS) {
        this.#manager.forget(token);
        this.#seen.delete(token);
        this.#lifts.delete(token);
        this.#reported.delete(token);
      }
    }
    let demand = 0;
    let throttled = 0;
    for (const r of this.#reported.values()) {
      demand += r.demand;
      throttled += r.throttled;
    }
    this.#lastDemand = demand;
    throttled = Math.min(throttled, demand);
    try {
      this.#last = this.#manager.tick({ step: this.#step++, demand, served: demand - throttled, throttled });
    } finally {
      this.#answer();
    }
    this.#season?.afterTick();
    return this.#last;
  }

  /** Lets the calls waiting for this tick answer. */
  #answer(): void {
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const resolve of waiting) resolve();
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
      ...(this.#season === undefined ? {} : { seasonal: this.#season.status() }),
    };
  }

  /**
   * Stops ticking, writes the last season checkpoint (for the pool's next
   * manager) and closes the provider (connections closed, processes stopped).
   */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#answer();
    await this.#season?.final();
    await this.#provider.close?.();
  }
}
