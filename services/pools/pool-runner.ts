/**
 * One pool's manager, run by the pool's owner node: a {@link PoolManager}
 * over the provider its kind names, ticked every `stepMs` on the node's
 * clock with the demand and denials its tokens reported during the step.
 */
import type { ServiceBroker } from 'moleculer';
import { PoolManager } from '../../actors/index.ts';
import type { AllocationDecision, ResourceProvider, TickResult, TokenWant } from '../../actors/index.ts';
import { HpaPolicy, QuantilePolicy, StaticPolicy, invalidField, toHeadroomError } from '../../lib/index.ts';
import type { CapacityPolicy, Clock, Lease, TimerHandle } from '../../lib/index.ts';
// Entry files: models/ loads TensorFlow.js only when a model needs it.
import { RlPolicy } from '../../models/index.ts';
import { SimulatedProvider } from '../../sim/index.ts';
import type { PoolSpec } from './pools-config.ts';
import { DbProvider, ProcessProvider } from './providers/index.ts';

/** A token's want as sent on the wire: its denials of the last step come with it. */
export interface WireWant extends TokenWant {
  /** Requests of the token denied in the step just ended. */
  denied?: number;
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
  readonly #log: { warn(...a: unknown[]): void };
  readonly #seen = new Map<string, number>();
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
      log: { warn(...a: unknown[]): void };
      /** Environment for `process` workers (the node's NATS credentials). */
      workerEnv?: Readonly<Record<string, string>>;
    },
  ) {
    this.spec = spec;
    this.#clock = deps.clock;
    this.#log = deps.log;
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
        leadSteps: Math.ceil(spec.leadMs / spec.stepMs),
        leaseTtlMs: spec.leaseTtlMs,
      },
      {
        clock: deps.clock,
        provider: this.#provider,
        policy: policyOf(spec),
        sink: (d) => {
          this.#lastDecision = d;
          deps.sink(d);
        },
      },
    );
    this.#arm();
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
        this.#manager.want(want);
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

  /** Ends the step: decides units and leases from what the tokens reported. */
  tick(): TickResult {
    for (const [token, step] of this.#seen) {
      if (this.#step - step >= FORGET_STEPS) {
        this.#manager.forget(token);
        this.#seen.delete(token);
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
  });
  return o as { pool: string; wants: WireWant[] };
}
