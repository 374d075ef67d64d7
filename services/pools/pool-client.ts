/**
 * The token side of allocation: every pool step, for each pool, the live
 * token actors on this node whose rule draws on the pool send their wants
 * (latest forecast quantiles per horizon, converted to requests per pool
 * step), their rule's limit, their demand and denials of the last step and
 * their requests in each of their last seconds (for the pool's trend) to
 * the pool's owner in one `pools.want` call, and take the leases it
 * answers (rates in requests per the rule's period). Rounds go out just
 * after each step ends on the clock's step grid (lib `WANTS_AT_MS`), the
 * owner decides a moment later on the same grid and answers with the
 * leases of that decision. When the owner cannot be reached nothing
 * happens: leases expire and decay to the rules' own limits.
 */
import type { ServiceBroker } from 'moleculer';
import type { ActorHost, TokenActor } from '../../actors/index.ts';
import { TREND_SECONDS, WANTS_AT_MS, untilStepPhase } from '../../lib/index.ts';
import type { Clock, Lease, TimerHandle, TokenKey } from '../../lib/index.ts';
import type { WireWant } from './pool-wants.ts';
import type { PoolSpec } from './pools-config.ts';
import type { Pools } from './pools.ts';

/** Deps of a {@link PoolClient}. */
export interface PoolClientDeps {
  broker: ServiceBroker;
  host: ActorHost<TokenKey, TokenActor>;
  clock: Clock;
  pools: Pools;
  /** The forecast horizons (ms); a token without a forecast yet wants its recent demand at each. */
  horizonsMs: readonly number[];
}

const SLOT_MS = 1000;
/** The shortest wait for a `pools.want` answer (the owner answers after its decision, a moment after the call). */
const WANT_TIMEOUT_MS = 5000;

/**
 * The token's requests in each of its last complete seconds (oldest first),
 * at most {@link TREND_SECONDS}: only seconds wholly after its creation, so
 * that the empty seconds before a new token (or the part-second it started
 * in) do not look like a rise.
 */
function perSecondOf(actor: TokenActor, nowMs: number): number[] {
  const last = Math.floor(nowMs / SLOT_MS) - 1;
  const first = Math.floor(actor.createdMs / SLOT_MS) + 1;
  const n = Math.min(TREND_SECONDS, actor.window.options.fineBuckets, last - first + 1);
  if (n < 1) return [];
  return actor.window.series('1s', n, last * SLOT_MS).buckets.map((b) => b.requests);
}

/** A token's wants for a pool of step `stepMs`, with its recent demand and its last step's denials. */
export function wantOf(
  actor: TokenActor,
  stepMs: number,
  horizonsMs: readonly number[],
  nowMs: number,
): WireWant {
  // The last complete 1 s slots covering one step (at least one slot).
  const slots = Math.max(1, Math.min(actor.window.options.fineBuckets, Math.ceil(stepMs / SLOT_MS)));
  const end = Math.floor(nowMs / SLOT_MS) * SLOT_MS - SLOT_MS;
  const s = actor.window.series('1s', slots, end);
  const scale = stepMs / (slots * SLOT_MS);
  const actual = s.buckets.reduce((n, b) => n + b.requests, 0) * scale;
  const denied = s.buckets.reduce((n, b) => n + b.denied, 0) * scale;
  const perStep = stepMs / SLOT_MS;
  const f = actor.forecast;
  const hs = f?.horizonsMs ?? horizonsMs;
  const horizons = hs.map((h) => Math.max(1, Math.round(h / stepMs)));
  const level = (q: readonly number[] | undefined): number[] =>
    q === undefined ? hs.map(() => actual) : q.map((v) => Math.max(0, v) * perStep);
  return {
    token: actor.token,
    priority: Math.max(1, 1 + actor.rule.priority),
    // The rule's own limit: the lease comes back per its period, never below it under raise-only,
    // with a burst that keeps the rule's tolerance in time at the lease's rate.
    limit: {
      rate: actor.rule.limit.rate,
      periodMs: actor.rule.limit.periodMs,
      burst: actor.rule.limit.burst,
    },
    wants: { horizons, p10: level(f?.p10), p50: level(f?.p50), p90: level(f?.p90) },
    actual,
    denied,
    perSecond: perSecondOf(actor, nowMs),
  };
}

export class PoolClient {
  readonly #d: PoolClientDeps;
  readonly #timers = new Map<string, TimerHandle>();
  readonly #rounds = new Set<Promise<void>>();
  #stopped = true;

  constructor(deps: PoolClientDeps) {
    this.#d = deps;
  }

  start(): void {
    this.#stopped = false;
    for (const spec of this.#d.pools.specs) this.#arm(spec);
  }

  /** The next round for `spec`, just after the current step ends (lib `untilStepPhase`). */
  #arm(spec: PoolSpec): void {
    if (this.#stopped) return;
    const { clock } = this.#d;
    this.#timers.set(
      spec.name,
      clock.setTimeout(
        () => {
          this.#timers.delete(spec.name);
          const p = this.round(spec)
            .catch((err: unknown) =>
              this.#d.broker.getLogger('pools').warn(`pool ${spec.name} round: ${(err as Error).message}`),
            )
            .finally(() => {
              this.#rounds.delete(p);
              this.#arm(spec);
            });
          this.#rounds.add(p);
        },
        untilStepPhase(clock.now(), spec.stepMs, WANTS_AT_MS),
      ),
    );
  }

  /**
   * One round for `spec`: sends the wants to the pool's owner and applies the
   * leases it answers (after its decision for this step, within a step).
   */
  async round(spec: PoolSpec): Promise<void> {
    const { host, clock, broker, pools } = this.#d;
    pools.reconcile();
    const now = clock.now();
    const wants: WireWant[] = [];
    for (const key of host.keys()) {
      const a = host.peek(key);
      if (a === undefined || !spec.rules.includes(a.rule.id)) continue;
      wants.push(wantOf(a, spec.stepMs, this.#d.horizonsMs, now));
    }
    if (wants.length === 0) return;
    const owner = pools.owner(spec.name);
    if (owner === undefined) return;
    let leases: Lease[];
    try {
      const reply = await broker.call<{ leases: Lease[] }, { pool: string; wants: WireWant[] }>(
        'pools.want',
        { pool: spec.name, wants },
        { nodeID: owner, timeout: Math.max(spec.stepMs, WANT_TIMEOUT_MS) },
      );
      leases = reply.leases;
    } catch (err) {
      // The owner is away or moving: held leases run out and decay to the rule limits.
      broker.getLogger('pools').debug(`pool ${spec.name}: wants not sent: ${(err as Error).message}`);
      return;
    }
    const terms = { decayMs: spec.decayMs, stepMs: spec.stepMs };
    await Promise.all(
      leases.map(async (lease) => {
        const key = lease.token as TokenKey;
        // Only actors still here: asking would activate a token that moved away.
        if (host.peek(key) === undefined) return;
        // A failed actor is reported by the host's onError (throttle-node.ts); a stopped host is
        // the node leaving. Either way the actor keeps its old lease, which decays.
        await host.ask(key, (a) => a.setLease(lease, terms)).catch(() => undefined);
      }),
    );
  }

  /** Stops the rounds; waits for one in progress. */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const t of this.#timers.values()) this.#d.clock.clearTimeout(t);
    this.#timers.clear();
    await Promise.all([...this.#rounds]);
  }
}
