/**
 * Live allocation in the cluster: the `pools` Moleculer service on every
 * node. Each pool's owner is the node that owns key `pool:<name>` in the
 * placement; it runs the pool's {@link PoolRunner} (manager, provider,
 * ticks). When placement moves, the old owner stops its runner (provider
 * closed: connections closed, worker processes gone) and the new owner
 * starts one only once no other live node holds the pool (`pools.holds`),
 * so two runners never provision the same pool at once. Tokens reach the
 * owner through `pools.want` (see pool-client.ts); decisions go to the store.
 */
import type { Context, ServiceBroker, ServiceSchema } from 'moleculer';
import type { AllocationDecision } from '../../actors/index.ts';
import { ErrorCode, InputError } from '../../lib/index.ts';
import type { Clock, Lease, LeaseLimits, TimerHandle } from '../../lib/index.ts';
import type { DecisionRow } from '../../store/index.ts';
import { parseEmptyParams, parsePoolParams, Refused, guardOf } from '../wire/index.ts';
import type { Guard } from '../wire/index.ts';
import type { PlacementTracker } from '../cluster/index.ts';
import { PoolRunner } from './pool-runner.ts';
import type { PoolForecast, PoolRunStatus } from './pool-runner.ts';
import { checkWantParams } from './pool-wants.ts';
import type { WireWant } from './pool-wants.ts';
import type { PoolKind, PoolPolicyName, PoolSpec } from './pools-config.ts';
import type { SeasonStore } from './season-store.ts';

/** The placement key of a pool's owner. */
export const poolKey = (name: string): string => `pool:${name}`;

/** How long a new owner waits before asking again whether the old owner still holds the pool. */
export const CLAIM_RETRY_MS = 250;
/**
 * Limit on one `pools.holds` call to a peer (a peer that does not answer
 * counts as holding) and on one `pools.local` call for status.
 */
const HOLDS_TIMEOUT_MS = 1000;

/** One pool in `pools.status`: its configuration, and its owner's figures when the owner answered. */
export interface PoolStatus extends Partial<PoolRunStatus> {
  pool: string;
  owner: string | null;
  kind: PoolKind;
  policy: PoolPolicyName;
  limits: LeaseLimits;
  /** Requests per second one unit serves (the pools file's). */
  unitCapacity: number;
  minUnits: number;
  maxUnits: number;
  stepMs: number;
  /** Why the owner's figures are missing (unreachable). */
  error?: string;
}

/**
 * One pool as `headroom.v1.status` and `GET /v1/status` list it. Rates are
 * requests per second; the owner's figures are null when no node owns the
 * pool or its owner did not answer (`error` says why).
 */
export interface PoolOverview {
  name: string;
  owner: string | null;
  kind: PoolKind;
  policy: PoolPolicyName;
  limits: LeaseLimits;
  /** Units held: ready plus starting (the last decision's target). */
  units: number | null;
  readyUnits: number | null;
  minUnits: number;
  maxUnits: number;
  unitCapacity: number;
  /** Requests per second the pool's tokens reported over the last step. */
  demand: number | null;
  /** The summed forecast the last decision looked at; null when there is none. */
  forecast: PoolForecast | null;
  /**
   * The pool's seasonal memory, when its manager keeps one (`seasonMs`):
   * steps known, and steps its manager took from the previous manager's
   * checkpoint as it started (0: none); null otherwise.
   */
  seasonal: { knownSteps: number; recoveredSteps: number } | null;
  error?: string;
}

/** The public view of a `pools.status` entry. */
export function poolOverview(s: PoolStatus): PoolOverview {
  return {
    name: s.pool,
    owner: s.owner,
    kind: s.kind,
    policy: s.policy,
    limits: s.limits,
    units: s.target ?? null,
    readyUnits: s.ready ?? null,
    minUnits: s.minUnits,
    maxUnits: s.maxUnits,
    unitCapacity: s.unitCapacity,
    demand: s.demand === undefined ? null : (s.demand * 1000) / s.stepMs,
    forecast: s.forecast ?? null,
    seasonal:
      s.seasonal === undefined
        ? null
        : { knownSteps: s.seasonal.knownSteps, recoveredSteps: s.seasonal.recoveredSteps },
    ...(s.error === undefined ? {} : { error: s.error }),
  };
}

/** Deps of {@link Pools}. */
export interface PoolsDeps {
  broker: ServiceBroker;
  tracker: PlacementTracker;
  clock: Clock;
  specs: readonly PoolSpec[];
  /** Writes a decision row (the batcher's `decisions` kind). */
  write?: (row: DecisionRow) => void;
  /** The stored name of a token (keyed hash), as every stored row names it. */
  storeToken?: (token: string, nowMs: number) => string;
  /** Environment for `process` pool workers: the node's NATS credentials (HEADROOM_NATS_*). */
  workerEnv?: Readonly<Record<string, string>>;
  /**
   * Where pools' seasons are checkpointed (the cluster's KV bucket, see
   * season-store.ts), so a pool's next manager starts with its season.
   * None: a season lives only as long as its manager.
   */
  seasonStore?: SeasonStore;
}

/** This node's share of the pools: the runners of the pools it owns. */
export class Pools {
  readonly specs: readonly PoolSpec[];
  readonly #d: PoolsDeps;
  readonly #runners = new Map<string, PoolRunner>();
  readonly #stopping = new Set<Promise<void>>();
  /** Runners being stopped, by pool: they still hold the pool until their provider is closed. */
  readonly #closing = new Map<string, Set<PoolRunner>>();
  /** Pools this node owns and is asking its peers about before it starts their runner. */
  readonly #claims = new Map<string, Promise<void>>();
  readonly #retries = new Map<string, TimerHandle>();
  #seq = 0;
  #started = false;

  constructor(deps: PoolsDeps) {
    this.#d = deps;
    this.specs = deps.specs;
  }

  /** The node's Guard, which counts the `pools` calls refused. */
  get guard(): Guard {
    return guardOf(this.#d.broker, this.#d.clock);
  }

  /** The pool's owner node, when any node is live. */
  owner(pool: string): string | undefined {
    return this.#d.tracker.owner(poolKey(pool));
  }

  /** Starts runners for the pools this node owns, and follows placement changes. */
  start(): void {
    if (!this.#started) this.#d.tracker.onChange(() => this.reconcile());
    this.#started = true;
    this.reconcile();
  }

  /**
   * Starts the runners of pools this node now owns and stops the others. A
   * pool newly owned here starts at once when this node is alone; otherwise
   * only after every live peer answered that it no longer holds it (see
   * {@link heldElsewhere}).
   */
  reconcile(): void {
    if (!this.#started) return;
    const me = this.#d.broker.nodeID;
    for (const spec of this.specs) {
      const mine = this.owner(spec.name) === me;
      const running = this.#runners.get(spec.name);
      if (mine && running === undefined && !this.#claims.has(spec.name)) {
        if (this.#peers().length === 0) this.#startRunner(spec);
        else this.#claim(spec);
      } else if (!mine && running !== undefined) {
        this.#runners.delete(spec.name);
        this.#stopRunner(running);
      }
    }
  }

  /** Live nodes other than this one (any may still hold a pool this node now owns). */
  #peers(): string[] {
    const me = this.#d.broker.nodeID;
    return this.#d.tracker.liveNodes.filter((id) => id !== me);
  }

  #claim(spec: PoolSpec): void {
    const p = this.heldElsewhere(spec.name)
      .then((held) => {
        this.#claims.delete(spec.name);
        if (!this.#started || this.owner(spec.name) !== this.#d.broker.nodeID) return;
        if (!held) {
          if (!this.#runners.has(spec.name)) this.#startRunner(spec);
          return;
        }
        // The old owner is still closing its provider (or has not seen the new placement yet).
        if (!this.#retries.has(spec.name))
          this.#retries.set(
            spec.name,
            this.#d.clock.setTimeout(() => {
              this.#retries.delete(spec.name);
              this.reconcile();
            }, CLAIM_RETRY_MS),
          );
      })
      .catch((err: unknown) => {
        this.#claims.delete(spec.name);
        this.#d.broker.getLogger('pools').warn(`pool ${spec.name} claim: ${(err as Error).message}`);
      });
    this.#claims.set(spec.name, p);
  }

  /**
   * Whether a live peer holds `pool` (runs its manager or is still closing
   * its provider). A peer without the `pools` service holds nothing; a peer
   * that does not answer might, so it counts as holding.
   */
  async heldElsewhere(pool: string): Promise<boolean> {
    const answers = await Promise.all(
      this.#peers().map((nodeID) =>
        this.#d.broker
          .call<boolean, { pool: string }>('pools.holds', { pool }, { nodeID, timeout: HOLDS_TIMEOUT_MS })
          .catch((err: unknown) => {
            const name = (err as Error).name;
            return !(name === 'ServiceNotFoundError' || name === 'ServiceNotAvailableError');
          }),
      ),
    );
    return answers.includes(true);
  }

  /** Whether this node runs `pool`'s manager or is still closing its provider. */
  holds(pool: string): boolean {
    return this.#runners.has(pool) || (this.#closing.get(pool)?.size ?? 0) > 0;
  }

  #startRunner(spec: PoolSpec): void {
    const me = this.#d.broker.nodeID;
    const log = this.#d.broker.getLogger('pools');
    try {
      this.#runners.set(
        spec.name,
        new PoolRunner(spec, {
          broker: this.#d.broker,
          clock: this.#d.clock,
          sink: (d) => this.#record(d),
          log,
          ...(this.#d.workerEnv === undefined ? {} : { workerEnv: this.#d.workerEnv }),
          ...(this.#d.seasonStore === undefined ? {} : { seasonStore: this.#d.seasonStore, nodeId: me }),
        }),
      );
      log.info(`pool ${spec.name}: manager started on ${me}`);
    } catch (err) {
      log.warn(`pool ${spec.name}: manager not started: ${(err as Error).message}`);
    }
  }

  #stopRunner(r: PoolRunner): void {
    const name = r.spec.name;
    const closing = this.#closing.get(name) ?? new Set<PoolRunner>();
    closing.add(r);
    this.#closing.set(name, closing);
    const p = r
      .stop()
      .catch((err: unknown) =>
        this.#d.broker.getLogger('pools').warn(`pool ${name} stop: ${(err as Error).message}`),
      )
      .finally(() => {
        this.#stopping.delete(p);
        closing.delete(r);
        if (closing.size === 0 && this.#closing.get(name) === closing) this.#closing.delete(name);
      });
    this.#stopping.add(p);
  }

  #record(d: AllocationDecision): void {
    const { write, storeToken } = this.#d;
    if (write === undefined) return;
    const token = d.token === undefined ? undefined : storeToken ? storeToken(d.token, d.atMs) : d.token;
    try {
      write({
        id: `${this.#d.broker.nodeID}:${d.pool}:${d.atMs}:${++this.#seq}`,
        timeMs: d.atMs,
        pool: d.pool,
        kind: d.kind,
        ...(token === undefined ? {} : { token }),
        amount: d.kind === 'lease' ? (d.rate ?? 0) : (d.toUnits ?? 0),
        detail: JSON.stringify(token === undefined ? d : { ...d, token }),
      });
    } catch (err) {
      this.#d.broker.getLogger('pools').warn(`decision not stored: ${(err as Error).message}`);
    }
  }

  /**
   * Owner side of `pools.want`: records the wants and answers, once the pool
   * decided on them (its coming tick, when they came for it), the leases
   * the tokens hold.
   * @throws InputError when this node does not run the pool.
   */
  async want(pool: string, wants: readonly WireWant[]): Promise<Lease[]> {
    const r = this.#runners.get(pool);
    if (r === undefined) {
      throw new InputError(
        ErrorCode.InvalidField,
        `pool must be a pool run on ${this.#d.broker.nodeID}, got ${JSON.stringify(pool)}`,
        {
          field: 'pool',
          value: pool,
        },
      );
    }
    r.want(wants);
    await r.decided();
    return r.leases(wants.map((w) => w.token));
  }

  /** The runner's figures of a pool run here; undefined otherwise. */
  local(pool: string): PoolRunStatus | undefined {
    return this.#runners.get(pool)?.status();
  }

  /** Every pool with its owner and, from the owner, its figures. */
  async status(): Promise<PoolStatus[]> {
    const { broker } = this.#d;
    return Promise.all(
      this.specs.map(async (spec): Promise<PoolStatus> => {
        const owner = this.owner(spec.name) ?? null;
        const base = {
          pool: spec.name,
          owner,
          kind: spec.kind,
          policy: spec.policy,
          limits: spec.limits,
          unitCapacity: spec.unitCapacity,
          minUnits: spec.minUnits,
          maxUnits: spec.maxUnits,
          stepMs: spec.stepMs,
        };
        if (owner === null) return base;
        try {
          const s =
            owner === broker.nodeID
              ? this.local(spec.name)
              : await broker.call<PoolRunStatus | null, { pool: string }>(
                  'pools.local',
                  { pool: spec.name },
                  { nodeID: owner, timeout: HOLDS_TIMEOUT_MS },
                );
          return { ...(s ?? {}), ...base };
        } catch (err) {
          return { ...base, error: (err as Error).message };
        }
      }),
    );
  }

  /** Stops every runner (providers closed, processes stopped). Safe to call twice. */
  async stop(): Promise<void> {
    this.#started = false;
    for (const t of this.#retries.values()) this.#d.clock.clearTimeout(t);
    this.#retries.clear();
    for (const r of this.#runners.values()) this.#stopRunner(r);
    this.#runners.clear();
    await Promise.all([...this.#claims.values(), ...this.#stopping]);
  }
}

/**
 * The `pools` Moleculer service around a node's {@link Pools}. Every action
 * is for role `node` and validates its params; a refused call is counted
 * and logged (rate-limited) by the node's Guard.
 */
export function poolsService(pools: Pools): ServiceSchema {
  /** Checks a call's params (a bad call is counted and logged), then runs it. */
  const guarded =
    <P, R>(action: string, check: (params: unknown) => P, run: (p: P) => R) =>
    (ctx: Context<unknown>): R => {
      let p: P;
      try {
        p = check(ctx.params);
      } catch (err) {
        pools.guard.refuse(
          Refused.Call,
          `pools.${action} from ${String(ctx.nodeID)}: ${(err as Error).message}`,
        );
        throw err;
      }
      return run(p);
    };
  return {
    name: 'pools',
    actions: {
      want: {
        handler: guarded('want', checkWantParams, async (p) => ({
          leases: await pools.want(p.pool, p.wants),
        })),
      },
      local: { handler: guarded('local', parsePoolParams, (p) => pools.local(p.pool) ?? null) },
      /** Whether this node still holds a pool (asked by its new owner before it starts the pool's runner). */
      holds: { handler: guarded('holds', parsePoolParams, (p) => pools.holds(p.pool)) },
      status: { handler: guarded('status', parseEmptyParams, () => pools.status()) },
    },
  };
}
