/**
 * This node's token actors: the owner's side of the check path. Each token
 * lives in exactly one actor in the cluster; gateways route its items here
 * with an explicit nodeID, or call this directly when they own it.
 */
import type { ServiceBroker } from 'moleculer';
import { SpanKind } from '@opentelemetry/api';
import { ActorHost, DormantTokens, TakeLedger, TokenActor } from '../../actors/index.ts';
import { ErrorCode, InputError, StateError, compileRule, parseRule } from '../../lib/index.ts';
import type { Clock, CompiledRule, TokenKey } from '../../lib/index.ts';
import { Refused, guardOf, refOf } from '../wire/index.ts';
import type {
  Guard,
  GuardStats,
  HandoffItem,
  HandoffParams,
  RefundItem,
  RuleRef,
  TakeDecision,
  TakeItem,
  TakeMeta,
  TakePart,
  TakeParams,
} from '../wire/index.ts';
import { Handoff } from '../cluster/index.ts';
import { linkTo } from './owner-link.ts';
import type { OwnerLink } from './owner-link.ts';
import { gather, routeItems } from './router.ts';
import type { Routing } from './router.ts';
import type { PlacementTracker } from '../cluster/index.ts';
import { extractContext, recordFailure, tracer } from '../runtime/index.ts';
import type { DecisionObserver } from '../../collection/index.ts';

/** What {@link ThrottleNode.stats} adds to the actor host's figures. */
export interface ThrottleGuardStats extends GuardStats {
  /** Take ids issued and not yet refunded or expired. */
  takeIds: number;
}

/** Least time a take id stays refundable (ms); longer when the owner timeout is long (4x it). */
export const REFUND_WINDOW_MS = 10_000;

export interface ThrottleDeps {
  broker: ServiceBroker;
  /** Behavioural data collection; absent when collection is off. */
  observer?: DecisionObserver;
  tracker: PlacementTracker;
  clock: Clock;
  idleMs: number;
  maxActors: number;
  ownerTimeoutMs: number;
  /** The other owners, for items a stale gateway sent here; absent when the node runs alone. */
  link?: OwnerLink;
}

export class ThrottleNode {
  /** The token actors; a take activates its token with the rule it runs under. */
  readonly host: ActorHost<TokenKey, TokenActor, RuleRef>;
  readonly handoff: Handoff;
  /** The takes this owner may be asked to refund; a refund without one of its ids is refused. */
  readonly ledger: TakeLedger;
  /** Counts (and logs, rate-limited) what this node refused from inside the cluster. */
  readonly guard: Guard;
  readonly #deps: ThrottleDeps;
  readonly #rules = new Map<string, CompiledRule>();
  readonly #dormant: DormantTokens<HandoffItem>;

  constructor(deps: ThrottleDeps) {
    this.#deps = deps;
    this.guard = guardOf(deps.broker, deps.clock);
    // A refund follows its take within a round trip or two; the window is a generous bound.
    this.ledger = new TakeLedger(deps.clock, {
      windowMs: Math.max(REFUND_WINDOW_MS, 4 * deps.ownerTimeoutMs),
    });
    this.#dormant = new DormantTokens<HandoffItem>(deps.clock, (actor, snapshot) => ({
      rule: refOf(actor.rule),
      snapshot,
    }));
    this.host = new ActorHost<TokenKey, TokenActor, RuleRef>(
      (token, restored, takeRule) => {
        const r = (restored as HandoffItem | undefined) ?? this.#dormant.wake(token);
        // A hand-off or a dormant token brings its rule and state; a take, the rule it runs under.
        const ref = r?.rule ?? takeRule;
        if (ref === undefined) {
          throw new StateError(ErrorCode.NotFound, `token ${token} has no rule to activate with`);
        }
        return new TokenActor(token, this.#ruleOf(ref), deps.clock, r?.snapshot);
      },
      { clock: deps.clock, idleMs: deps.idleMs, maxActors: deps.maxActors },
      {
        onError: (key, err) => deps.broker.logger.error(`token actor ${key} failed: ${err.message}`),
        onPassivate: (key, actor, reason) => {
          if (reason === 'idle' || reason === 'evicted') this.#dormant.sleep(key, actor);
        },
      },
    );
    this.handoff = new Handoff({
      broker: deps.broker,
      tracker: deps.tracker,
      clock: deps.clock,
      host: this.host,
      dormant: this.#dormant,
      logError: (err) => deps.broker.logger.error('throttle:', err),
    });
  }

  /** A RuleRef's compiled rule, cached: every node compiles each (id, limit) once. */
  #ruleOf(ref: RuleRef): CompiledRule {
    const key = `${ref.id}\u0000${ref.rate}\u0000${ref.periodMs}\u0000${ref.burst}\u0000${ref.mode}`;
    let rule = this.#rules.get(key);
    if (rule === undefined) {
      const spec = parseRule({
        id: ref.id,
        key: ['token'],
        rate: ref.rate,
        // Rule periods are strings; a ref's periodMs is a compiled rule's (whole ms, 1 ms to 7 d).
        period: `${ref.periodMs}ms`,
        burst: ref.burst,
        mode: ref.mode,
      });
      rule = compileRule(spec);
      if (this.#rules.size > 10_000) this.#rules.clear();
      this.#rules.set(key, rule);
    }
    return rule;
  }

  /**
   * Runs every part's items on their actors; one decision list per part. An
   * allowed item marked `refundable` gets a take id (its refund's ticket).
   */
  async take(params: TakeParams, meta: TakeMeta = {}): Promise<TakeDecision[][]> {
    // A gateway with a stale view sent us tokens we no longer own: pass them on once.
    if (params.forwarded !== true && !this.handoff.leaving) {
      const items = params.parts.length === 1 ? params.parts[0]!.items : params.parts.flatMap((p) => p.items);
      const routing = routeItems(items, this.#deps.tracker.placement, this.#deps.broker.nodeID, (t) =>
        this.host.has(t),
      );
      if (routing.remote.size > 0) {
        const flat = await this.#forward(items, routing);
        let at = 0;
        return params.parts.map((p) => flat.slice(at, (at += p.items.length)));
      }
    }
    return await Promise.all(params.parts.map((part, i) => this.#takePart(part, meta.traces?.[i])));
  }

  async #takePart(part: TakePart, trace: Record<string, string> | undefined): Promise<TakeDecision[]> {
    const span = tracer().startSpan(
      'headroom.actor.take',
      {
        kind: SpanKind.SERVER,
        attributes: { 'headroom.owner': this.#deps.broker.nodeID, 'headroom.tokens': part.items.length },
      },
      extractContext(trace),
    );
    try {
      return await Promise.all(part.items.map((it) => this.#takeOne(it)));
    } catch (err) {
      recordFailure(span, err);
      throw err;
    } finally {
      span.end();
    }
  }

  async #takeOne(item: TakeItem): Promise<TakeDecision> {
    if (!this.host.has(item.token)) await this.handoff.awaitState(item.token);
    return await this.host.ask(
      item.token,
      (actor) => {
        const rule = this.#ruleOf(item.rule);
        if (actor.rule !== rule) actor.setRule(rule);
        const decision: TakeDecision = actor.check(item.cost);
        // Only a take that may be refunded costs an id: single-rule checks never are.
        if (item.refundable === true && decision.allow) {
          decision.takeId = this.ledger.issue(item.token, item.cost, item.atMs, item.params);
        }
        this.#deps.observer?.decided(item, decision, this.#deps.clock.now());
        return decision;
      },
      item.rule,
    );
  }

  /**
   * Gives back takes this owner issued: each item's id must be in the ledger,
   * unexpired and unused, for the same token and at most the cost taken (it
   * is spent either way). The valid ones are applied; if any is not, the
   * refusal is counted and the call rejects with HEADROOM_ERR_REFUND_REJECTED
   * naming the first.
   */
  async refund(items: readonly RefundItem[]): Promise<void> {
    const applied: Array<Promise<void>> = [];
    let rejected = 0;
    let first: InputError | undefined;
    items.forEach((it, i) => {
      const e = this.ledger.redeem(it.takeId, it.token, it.cost);
      if (typeof e === 'string') {
        rejected++;
        first ??= new InputError(
          ErrorCode.RefundRejected,
          `items[${i}].takeId must name an unused take of ${JSON.stringify(it.token)} of cost >= ${it.cost} issued by ${this.#deps.broker.nodeID} in the last ${this.ledger.windowMs} ms, got ${JSON.stringify(it.takeId)} (${e})`,
          { field: `items[${i}].takeId`, value: it.takeId },
        );
        return;
      }
      if (!this.host.has(it.token)) return; // passivated since: its bucket has refilled
      applied.push(
        this.host.ask(it.token, (a) => {
          a.refund(it.cost, e.atMs);
          this.#deps.observer?.refunded(
            { token: e.token, cost: it.cost, atMs: e.atMs, params: e.params },
            this.#deps.clock.now(),
          );
        }),
      );
    });
    await Promise.all(applied);
    if (first !== undefined) {
      const what = rejected === items.length ? 'all' : `${rejected} of ${items.length}`;
      this.guard.refuse(Refused.Refund, `${what} refunds rejected: ${first.message}`, rejected);
      throw first;
    }
  }

  /** What this node refused from inside the cluster, and the take ids it holds. */
  stats(): ThrottleGuardStats {
    return { ...this.guard.stats(), takeIds: this.ledger.size };
  }

  /**
   * Passes items to the owners this node sees (router.ts), keeping their
   * order in the reply; the tokens it holds, and any no node owns, run here.
   */
  async #forward(items: TakeItem[], routing: Routing): Promise<TakeDecision[]> {
    const self = this.#deps.broker.nodeID;
    const here = routing.unowned.length === 0 ? routing.local : [...routing.local, ...routing.unowned];
    return await gather(items, [[self, here], ...routing.remote], async (owner, part) =>
      owner === self
        ? await Promise.all(part.map((it) => this.#takeOne(it)))
        : (
            await linkTo(this.#deps.link, owner).take(
              owner,
              { parts: [{ items: part }], forwarded: true },
              {},
              this.#deps.ownerTimeoutMs,
            )
          )[0]!,
    );
  }

  /** Another node announced its leave. */
  prepareLeave(nodeID: string): void {
    this.handoff.prepareLeave(nodeID);
  }

  /** Actors handed over by a node that no longer owns them. */
  receive(params: HandoffParams): Promise<number> {
    return this.handoff.receive(params);
  }

  /** Graceful leave: every actor goes to its new owner, then the host stops. */
  leave(): Promise<void> {
    return this.handoff.leave();
  }

  describe(token: string): unknown {
    const actor = this.host.peek(token as TokenKey);
    if (actor !== undefined) return { node: this.#deps.broker.nodeID, ...(actor.describe() as object) };
    const dormant = this.#dormant.peek(token as TokenKey);
    return dormant === undefined
      ? null
      : { node: this.#deps.broker.nodeID, dormant: true, snapshot: dormant.snapshot };
  }
}
