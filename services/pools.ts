/**
 * Live allocation in the cluster: the `pools` Moleculer service on every
 * node. Each pool's owner is the node that owns key `pool:<name>` in the
 * placement; it runs the pool's {@link PoolRunner} (manager, provider,
 * ticks). When placement moves, the new owner starts a runner and the old
 * one stops its own (provider closed). Tokens reach the owner through
 * `pools.want` (see pool-client.ts); decisions go to the store.
 */
import type { Context, ServiceBroker, ServiceSchema } from 'moleculer';
import type { AllocationDecision } from '../actors/index.ts';
import { ErrorCode, InputError } from '../lib/index.ts';
import type { Clock, Lease } from '../lib/index.ts';
import type { DecisionRow } from '../store/index.ts';
import type { PlacementTracker } from './placement-tracker.ts';
import { PoolRunner, checkWantParams } from './pool-runner.ts';
import type { PoolRunStatus, WireWant } from './pool-runner.ts';
import type { PoolSpec } from './pools-config.ts';

/** The placement key of a pool's owner. */
export const poolKey = (name: string): string => `pool:${name}`;

/** One pool in `pools.status`. */
export interface PoolStatus extends Partial<PoolRunStatus> {
  pool: string;
  owner: string | null;
  /** Why the owner's figures are missing (unreachable). */
  error?: string;
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
}

/** This node's share of the pools: the runners of the pools it owns. */
export class Pools {
  readonly specs: readonly PoolSpec[];
  readonly #d: PoolsDeps;
  readonly #runners = new Map<string, PoolRunner>();
  readonly #stopping = new Set<Promise<void>>();
  #seq = 0;
  #started = false;

  constructor(deps: PoolsDeps) {
    this.#d = deps;
    this.specs = deps.specs;
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

  /** Starts the runners of pools this node now owns and stops the others. */
  reconcile(): void {
    if (!this.#started) return;
    const me = this.#d.broker.nodeID;
    const log = this.#d.broker.getLogger('pools');
    for (const spec of this.specs) {
      const mine = this.owner(spec.name) === me;
      const running = this.#runners.get(spec.name);
      if (mine && running === undefined) {
        try {
          this.#runners.set(
            spec.name,
            new PoolRunner(spec, {
              broker: this.#d.broker,
              clock: this.#d.clock,
              sink: (d) => this.#record(d),
              log,
            }),
          );
          log.info(`pool ${spec.name}: manager started on ${me}`);
        } catch (err) {
          log.warn(`pool ${spec.name}: manager not started: ${(err as Error).message}`);
        }
      } else if (!mine && running !== undefined) {
        this.#runners.delete(spec.name);
        this.#stopRunner(running);
      }
    }
  }

  #stopRunner(r: PoolRunner): void {
    const p = r
      .stop()
      .catch((err: unknown) =>
        this.#d.broker.getLogger('pools').warn(`pool ${r.spec.name} stop: ${(err as Error).message}`),
      )
      .finally(() => this.#stopping.delete(p));
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

  /** Owner side of `pools.want`. @throws InputError when this node does not run the pool. */
  want(pool: string, wants: readonly WireWant[]): Lease[] {
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
    return r.want(wants);
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
        if (owner === null) return { pool: spec.name, owner };
        try {
          const s =
            owner === broker.nodeID
              ? this.local(spec.name)
              : await broker.call<PoolRunStatus | null, { pool: string }>(
                  'pools.local',
                  { pool: spec.name },
                  { nodeID: owner },
                );
          return { pool: spec.name, owner, ...(s ?? {}) };
        } catch (err) {
          return { pool: spec.name, owner, error: (err as Error).message };
        }
      }),
    );
  }

  /** Stops every runner (providers closed, processes stopped). Safe to call twice. */
  async stop(): Promise<void> {
    this.#started = false;
    for (const r of this.#runners.values()) this.#stopRunner(r);
    this.#runners.clear();
    await Promise.all([...this.#stopping]);
  }
}

/** The `pools` Moleculer service around a node's {@link Pools}. */
export function poolsService(pools: Pools): ServiceSchema {
  return {
    name: 'pools',
    actions: {
      want: {
        handler: (ctx: Context<unknown>) => {
          const p = checkWantParams(ctx.params);
          return { leases: pools.want(p.pool, p.wants) };
        },
      },
      local: { handler: (ctx: Context<{ pool: string }>) => pools.local(ctx.params.pool) ?? null },
      status: { handler: () => pools.status() },
    },
  };
}
