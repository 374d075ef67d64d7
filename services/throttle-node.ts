/**
 * This node's token actors: the owner's side of the check path. Each token
 * lives in exactly one actor in the cluster; gateways route its items here
 * with an explicit nodeID, or call this directly when they own it.
 */
import type { ServiceBroker } from 'moleculer';
import { SpanKind } from '@opentelemetry/api';
import { ActorHost, TokenActor } from '../actors/index.ts';
import { compileRule, parseRule } from '../lib/index.ts';
import type { Clock, CompiledRule, Placement, RuleDecision, TokenKey } from '../lib/index.ts';
import { DormantTokens } from './dormant-tokens.ts';
import { Handoff } from './handoff.ts';
import { linkTo } from './owner-link.ts';
import type { OwnerLink } from './owner-link.ts';
import type { PlacementTracker } from './placement-tracker.ts';
import { extractContext, recordFailure, tracer } from './telemetry.ts';
import type {
  HandoffItem,
  HandoffParams,
  RuleRef,
  TakeItem,
  TakeMeta,
  TakePart,
  TakeParams,
} from './wire.ts';

/** What a token's actor reports of each request it decided, and of each refund. */
export interface DecisionObserver {
  /** After the actor decided `item` (its own token's decision, before any refund). */
  decided(item: TakeItem, decision: RuleDecision, nowMs: number): void;
  /** The request was denied by another rule: `item` gave its budget back. */
  refunded(item: TakeItem, nowMs: number): void;
}

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
  readonly host: ActorHost<TokenKey, TokenActor>;
  readonly handoff: Handoff;
  readonly #deps: ThrottleDeps;
  readonly #rules = new Map<string, CompiledRule>();
  readonly #dormant: DormantTokens;
  /** Set just around an activation by take, read by the actor factory. */
  #activatingRule: RuleRef | undefined;

  constructor(deps: ThrottleDeps) {
    this.#deps = deps;
    this.#dormant = new DormantTokens(deps.clock);
    this.host = new ActorHost<TokenKey, TokenActor>(
      (token, restored) => {
        const r = (restored as HandoffItem | undefined) ?? this.#dormant.wake(token);
        // A token is activated by a take (rule known) or a hand-off (rule in the item).
        const rule = this.#ruleOf(r?.rule ?? this.#activatingRule!);
        return new TokenActor(token, rule, deps.clock, r?.snapshot);
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
        period: ref.periodMs,
        burst: ref.burst,
        mode: ref.mode,
      });
      rule = compileRule(spec);
      if (this.#rules.size > 10_000) this.#rules.clear();
      this.#rules.set(key, rule);
    }
    return rule;
  }

  /** Runs every part's items on their actors; one decision list per part. */
  async take(params: TakeParams, meta: TakeMeta = {}): Promise<RuleDecision[][]> {
    const self = this.#deps.broker.nodeID;
    const placement = this.#deps.tracker.placement;
    // A gateway with a stale view sent us tokens we no longer own: pass them on once.
    if (params.forwarded !== true && !this.handoff.leaving) {
      const elsewhere = params.parts.some((part) =>
        part.items.some((it) => {
          const o = placement.owner(it.token);
          return o !== undefined && o !== self && !this.host.has(it.token);
        }),
      );
      if (elsewhere) {
        const flat = await this.#forward(
          params.parts.flatMap((p) => p.items),
          placement,
        );
        let at = 0;
        return params.parts.map((p) => flat.slice(at, (at += p.items.length)));
      }
    }
    return await Promise.all(params.parts.map((part, i) => this.#takePart(part, meta.traces?.[i])));
  }

  async #takePart(part: TakePart, trace: Record<string, string> | undefined): Promise<RuleDecision[]> {
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

  async #takeOne(item: TakeItem): Promise<RuleDecision> {
    if (!this.host.has(item.token)) await this.handoff.awaitState(item.token);
    // ask() activates synchronously, so the factory reads the rule set here.
    this.#activatingRule = item.rule;
    try {
      return await this.host.ask(item.token, (actor) => {
        const rule = this.#ruleOf(item.rule);
        if (actor.rule !== rule) actor.setRule(rule);
        const decision = actor.check(item.cost);
        this.#deps.observer?.decided(item, decision, this.#deps.clock.now());
        return decision;
      });
    } finally {
      this.#activatingRule = undefined;
    }
  }

  async refund(items: TakeItem[]): Promise<void> {
    await Promise.all(
      items.map((it) =>
        this.host.has(it.token)
          ? this.host.ask(it.token, (a) => {
              a.refund(it.cost, it.atMs);
              this.#deps.observer?.refunded(it, this.#deps.clock.now());
            })
          : Promise.resolve(),
      ),
    );
  }

  /** Passes items to the owners this node sees, keeping their order in the reply. */
  async #forward(items: TakeItem[], placement: Placement): Promise<RuleDecision[]> {
    const self = this.#deps.broker.nodeID;
    const out = new Array<RuleDecision>(items.length);
    const groups = new Map<string, number[]>();
    items.forEach((it, i) => {
      const owner = this.host.has(it.token) ? self : (placement.owner(it.token) ?? self);
      const g = groups.get(owner);
      if (g === undefined) groups.set(owner, [i]);
      else g.push(i);
    });
    await Promise.all(
      [...groups].map(async ([owner, idx]) => {
        const part = idx.map((i) => items[i]!);
        const res =
          owner === self
            ? await Promise.all(part.map((it) => this.#takeOne(it)))
            : (
                await linkTo(this.#deps.link, owner).take(
                  owner,
                  { parts: [{ items: part }], forwarded: true },
                  {},
                  this.#deps.ownerTimeoutMs,
                )
              )[0]!;
        idx.forEach((i, k) => (out[i] = res[k]!));
      }),
    );
    return out;
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
