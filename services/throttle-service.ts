/**
 * The `throttle` service: hosts this node's token actors. Gateways route each
 * token to its owner with an explicit nodeID. On a placement change (a node
 * joins or announces its leave) every node hands the actors it no longer owns
 * to their new owners, so counts continue.
 */
import type { Context, ServiceBroker, ServiceSchema } from 'moleculer';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { ActorHost, Mailbox, TokenActor } from '../actors/index.ts';
import { compileRule, parseRule } from '../lib/index.ts';
import type { Clock, CompiledRule, Placement, RuleDecision, TokenKey } from '../lib/index.ts';
import { ACTOR_SERVICE } from './placement-tracker.ts';
import type { PlacementTracker } from './placement-tracker.ts';
import { extractContext, tracer } from './telemetry.ts';
import type {
  HandoffItem,
  HandoffParams,
  RefundParams,
  RuleRef,
  TakeItem,
  TakeMeta,
  TakePart,
  TakeParams,
} from './wire.ts';

/** How long a new owner waits for a leaving node's hand-off before it starts a token afresh. */
const HANDOFF_WAIT_MS = 3000;

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
}

interface PendingHandoff {
  before: Placement;
  done: Promise<void>;
  resolve: () => void;
}

export class ThrottleNode {
  readonly host: ActorHost<TokenKey, TokenActor>;
  readonly #deps: ThrottleDeps;
  readonly #rules = new Map<string, CompiledRule>();
  readonly #pending = new Map<string, PendingHandoff>();
  /** Hand-offs run one at a time so two placement changes never interleave. */
  readonly #rebalancing = new Mailbox();
  #leaving = false;

  constructor(deps: ThrottleDeps) {
    this.#deps = deps;
    this.host = new ActorHost<TokenKey, TokenActor>(
      (token, restored) => {
        const r = (restored as HandoffItem | undefined) ?? this.#wake(token);
        // A token is activated by a take (rule known) or a hand-off (rule in the item).
        const rule = this.#ruleOf(r?.rule ?? this.#activatingRule!);
        return new TokenActor(token, rule, deps.clock, r?.snapshot);
      },
      { clock: deps.clock, idleMs: deps.idleMs, maxActors: deps.maxActors },
      {
        onError: (key, err) => deps.broker.logger.error(`token actor ${key} failed: ${err.message}`),
        onPassivate: (key, actor, reason) => {
          if (reason === 'idle' || reason === 'evicted') this.#sleep(key, actor);
        },
      },
    );
    deps.tracker.onChange((p) => {
      if (!this.#leaving) void this.#rebalancing.enqueue(() => this.#handOffMoved(p)).catch(this.#logError);
    });
  }

  /**
   * Idle actors whose bucket has not refilled yet (a token of 5 per hour that
   * went quiet after its burst): their state waits here until it no longer
   * matters, so passivation never hands out a fresh burst.
   */
  readonly #dormant = new Map<TokenKey, HandoffItem>();

  #sleep(token: TokenKey, actor: TokenActor): void {
    const snapshot = actor.snapshot();
    if (snapshot.gcra.tat <= this.#deps.clock.now()) return;
    this.#dormant.set(token, { rule: refOf(actor.rule), snapshot });
    if (this.#dormant.size % 1024 === 0) this.#sweepDormant();
  }

  #wake(token: TokenKey): HandoffItem | undefined {
    const item = this.#dormant.get(token);
    if (item !== undefined) this.#dormant.delete(token);
    return item;
  }

  #sweepDormant(): void {
    const now = this.#deps.clock.now();
    for (const [token, item] of this.#dormant) if (item.snapshot.gcra.tat <= now) this.#dormant.delete(token);
  }

  /** Set just around an activation by take, read by the actor factory. */
  #activatingRule: RuleRef | undefined;

  #logError = (err: unknown): void => {
    this.#deps.broker.logger.error('throttle:', err);
  };

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
    if (params.forwarded !== true && !this.#leaving) {
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
      span.recordException(err as Error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
      throw err;
    } finally {
      span.end();
    }
  }

  async #takeOne(item: TakeItem): Promise<RuleDecision> {
    if (!this.host.has(item.token)) await this.#awaitHandoff(item.token);
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
                await this.#deps.broker.call<RuleDecision[][], TakeParams>(
                  `${ACTOR_SERVICE}.take`,
                  { parts: [{ items: part }], forwarded: true },
                  { nodeID: owner, timeout: this.#deps.ownerTimeoutMs },
                )
              )[0]!;
        idx.forEach((i, k) => (out[i] = res[k]!));
      }),
    );
    return out;
  }

  /** While a leaving node hands over, its former tokens wait for their state. */
  async #awaitHandoff(token: TokenKey): Promise<void> {
    for (const [from, p] of this.#pending) {
      if (p.before.owner(token) === from) {
        let timer: ReturnType<Clock['setTimeout']> | undefined;
        await Promise.race([
          p.done,
          new Promise<void>((r) => (timer = this.#deps.clock.setTimeout(r, HANDOFF_WAIT_MS))),
        ]);
        if (timer !== undefined) this.#deps.clock.clearTimeout(timer);
      }
    }
  }

  /** Another node announced its leave: stop routing to it and expect its actors. */
  prepareLeave(nodeID: string): void {
    if (this.#pending.has(nodeID)) return;
    let resolve!: () => void;
    const done = new Promise<void>((r) => (resolve = r));
    this.#pending.set(nodeID, { before: this.#deps.tracker.placement, done, resolve });
    // Give up waiting eventually: a node that dies mid-leave never says done.
    this.#deps.clock.setTimeout(() => this.#finishPending(nodeID), HANDOFF_WAIT_MS * 2);
    this.#deps.tracker.markLeaving(nodeID);
  }

  #finishPending(nodeID: string): void {
    const p = this.#pending.get(nodeID);
    if (p === undefined) return;
    this.#pending.delete(nodeID);
    p.resolve();
  }

  /** Receives actors from a node that no longer owns them. */
  async receive(params: HandoffParams): Promise<number> {
    await Promise.all(
      params.items.map(async (item) => {
        const token = item.snapshot.token;
        if (this.host.has(token)) {
          // Requests reached us before the state did: keep the stricter of the two.
          await this.host.ask(token, (a) => a.merge(item.snapshot));
        } else {
          this.host.restore(token, item);
        }
      }),
    );
    if (params.done) this.#finishPending(params.from);
    return params.items.length;
  }

  /** Hands every actor this node no longer owns under `placement` to its new owner. */
  async #handOffMoved(placement: Placement, done = false): Promise<void> {
    const self = this.#deps.broker.nodeID;
    const moved = this.host.keys().filter((k) => placement.owner(k) !== self);
    const released = moved.length > 0 ? await this.host.release(moved) : new Map<TokenKey, TokenActor>();
    const byOwner = new Map<string, HandoffItem[]>();
    const send = (token: TokenKey, item: HandoffItem): void => {
      const owner = placement.owner(token);
      if (owner === undefined) return; // nobody left to take it: the last node is stopping
      const list = byOwner.get(owner);
      if (list === undefined) byOwner.set(owner, [item]);
      else list.push(item);
    };
    for (const [token, actor] of released)
      send(token, { rule: refOf(actor.rule), snapshot: actor.snapshot() });
    this.#sweepDormant();
    for (const [token, item] of this.#dormant) {
      if (placement.owner(token) !== self) {
        this.#dormant.delete(token);
        send(token, item);
      }
    }
    if (done) for (const n of placement.nodes) if (n !== self && !byOwner.has(n)) byOwner.set(n, []);
    const results = await Promise.allSettled(
      [...byOwner].map(([owner, items]) =>
        this.#deps.broker.call<number, HandoffParams>(
          `${ACTOR_SERVICE}.receive`,
          { from: self, items, done },
          { nodeID: owner, timeout: 10_000 },
        ),
      ),
    );
    for (const r of results) if (r.status === 'rejected') this.#logError(r.reason);
    if (released.size > 0)
      this.#deps.broker.logger.info(`handed ${released.size} token actors to their new owners`);
  }

  /** Graceful leave: tell every node, then hand all actors over, then stop the host. */
  async leave(): Promise<void> {
    const { broker, tracker } = this.#deps;
    this.#leaving = true;
    const self = broker.nodeID;
    const others = tracker.liveNodes.filter((n) => n !== self);
    const acks = await Promise.allSettled(
      others.map((n) =>
        broker.call(`${ACTOR_SERVICE}.prepareLeave`, { nodeID: self }, { nodeID: n, timeout: 2000 }),
      ),
    );
    for (const a of acks) if (a.status === 'rejected') this.#logError(a.reason);
    tracker.markLeaving(self);
    await this.#rebalancing.enqueue(() => this.#handOffMoved(tracker.placement, true));
    await this.host.stop();
  }

  describe(token: string): unknown {
    const actor = this.host.peek(token as TokenKey);
    if (actor !== undefined) return { node: this.#deps.broker.nodeID, ...(actor.describe() as object) };
    const dormant = this.#dormant.get(token as TokenKey);
    return dormant === undefined
      ? null
      : { node: this.#deps.broker.nodeID, dormant: true, snapshot: dormant.snapshot };
  }
}

export function refOf(rule: CompiledRule): RuleRef {
  return {
    id: rule.id,
    rate: rule.limit.rate,
    periodMs: rule.limit.periodMs,
    burst: rule.limit.burst,
    mode: rule.mode,
  };
}

/** The Moleculer service around a ThrottleNode. */
export function throttleService(node: ThrottleNode, tracker: PlacementTracker): ServiceSchema {
  const refresh = (): void => tracker.refresh();
  return {
    name: ACTOR_SERVICE,
    actions: {
      take: { handler: (ctx: Context<TakeParams, TakeMeta>) => node.take(ctx.params, ctx.meta) },
      refund: { handler: (ctx: Context<RefundParams>) => node.refund(ctx.params.items) },
      receive: { handler: (ctx: Context<HandoffParams>) => node.receive(ctx.params) },
      prepareLeave: {
        handler: (ctx: Context<{ nodeID: string }>) => {
          node.prepareLeave(ctx.params.nodeID);
          return true;
        },
      },
      describe: { handler: (ctx: Context<{ token: string }>) => node.describe(ctx.params.token) },
      actors: {
        handler: (ctx: Context<{ limit?: number }>) => ({
          id: ctx.broker.nodeID,
          actors: node.host.size,
          tokens: node.host.keys().slice(0, ctx.params.limit ?? 20),
          stats: node.host.stats(),
        }),
      },
    },
    events: {
      '$node.connected': {
        handler(ctx: Context<{ node: { id: string } }>) {
          tracker.forget(ctx.params.node.id);
          refresh();
        },
      },
      '$node.disconnected': refresh,
      '$services.changed': refresh,
    },
    started() {
      refresh();
    },
  };
}
