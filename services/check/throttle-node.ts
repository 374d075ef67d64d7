/**
 * This node's token actors: the owner's side of the check path. Each token
 * lives in exactly one actor in the cluster; gateways route its items here
 * with an explicit nodeID, or call this directly when they own it.
 */
import type { ServiceBroker } from 'moleculer';
import { SpanKind } from '@opentelemetry/api';
import { ActorHost, DormantTokens, NOT_NOW, TakeLedger, TokenActor } from '../../actors/index.ts';
import {
  ErrorCode,
  InputError,
  StateError,
  compileRule,
  gcraToleranceMs,
  isThenable,
  parseRule,
  pooledRandomBytes,
  sleep,
} from '../../lib/index.ts';
import type { Clock, CompiledRule, Params, TokenKey } from '../../lib/index.ts';
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
import { Handoff, JOIN_WAIT_MS, Ownership } from '../cluster/index.ts';
import type { OwnershipOptions } from '../cluster/index.ts';
import { linkTo } from './owner-link.ts';
import { BLIND_RETRY_MS, DEFAULT_SUSPECT_MS, OwnerGone } from './link-requests.ts';
import type { OwnerLink } from './owner-link.ts';
import { gather, routeItems } from './router.ts';
import type { Routing } from './router.ts';
import type { PlacementTracker } from '../cluster/index.ts';
import { extractContext, recordFailure, tracer } from '../runtime/index.ts';
import type { DecisionObserver } from '../../collection/index.ts';
import { LeaseBook } from './leases.ts';
import type { LeaseOptions } from './leases.ts';
import { recordReported } from './lease-demand.ts';
import type { LeaseAsk, LeaseGrant, LeaseReport, LeaseReturn } from './lease-schema.ts';

/** What {@link ThrottleNode.stats} adds to the actor host's figures. */
export interface ThrottleGuardStats extends GuardStats {
  /** Take ids issued and not yet refunded or expired. */
  takeIds: number;
  /** Tokens fenced because this node lost contact (ownership.ts). */
  fenced: number;
}

/** A node's standing on token ownership, as status shows it (services/cluster/ownership.ts). */
export interface OwnershipStatus {
  /** The nodes this node routes tokens over now (live, not silent, not suspected). */
  view: string[];
  /** Until when tokens it starts may be fenced after a membership change; null when none. */
  learningUntilMs: number | null;
  /** Hand-offs it waits for (a leaving node's, or, joining, its peers'). */
  pendingHandoffs: number;
  /** Tokens it fenced since it started because it lost contact (a stall, a reconnect). */
  fenced: number;
}

/** Least time a take id stays refundable (ms); longer when the owner timeout is long (4x it). */
export const REFUND_WINDOW_MS = 10_000;

export interface ThrottleDeps {
  broker: ServiceBroker;
  /** Behavioural data collection; absent when collection is off. */
  observer?: DecisionObserver;
  tracker: PlacementTracker;
  /** Domain time: GCRA, actor idle, ownership fences (scaled under `--time-scale`). */
  clock: Clock;
  /**
   * Wall-clock time for what waits on other processes: refund windows, client
   * slices (clients count them in real time), hand-off and join waits, retry
   * pauses, log rate limits. @default clock
   */
  realClock?: Clock;
  idleMs: number;
  maxActors: number;
  ownerTimeoutMs: number;
  /** The other owners, for items a stale gateway sent here; absent when the node runs alone. */
  link?: OwnerLink;
  /** How long an owner with no subscriber is routed around. @default 1000 */
  suspectMs?: number;
  /** When this node fences tokens it starts without their state (services/cluster/ownership.ts). */
  ownership?: OwnershipOptions;
  /**
   * When this node first saw rule `id` (domain ms; -Infinity when unknown,
   * services/rules/rule-ages.ts): a change before a rule came to be fences
   * none of its tokens. @default () => -Infinity
   */
  ruleSinceMs?: (id: string) => number;
  /**
   * Runs before every take: notices a stall of this node (beats.ts) and
   * calls {@link ThrottleNode.contactLost} before anything is granted.
   */
  checkContact?: () => void;
  /** Whether this node's view lists every live node (beats.ts completeView); absent: always. */
  viewComplete?: () => boolean;
  /** Client leases (leases.ts). @default defaultLeaseOptions() */
  leases?: Partial<LeaseOptions>;
}

/** Most limits kept per rule id (a rule changing while gateways still send the old one's refs). */
const MAX_LIMITS_PER_RULE = 4;

/** Whether `rule` is what `ref` names: the same limit and mode (the id is the map's key). */
function sameLimit(rule: CompiledRule, ref: RuleRef): boolean {
  const l = rule.limit;
  return (
    l.rate === ref.rate && l.periodMs === ref.periodMs && l.burst === ref.burst && rule.mode === ref.mode
  );
}

/** A node alone (no NATS) never shares a token: nothing to settle, and a stall costs nothing. */
const ALONE: OwnershipOptions = { settleMs: 0 };

export class ThrottleNode {
  /** The token actors; a take activates its token with the rule it runs under. */
  readonly host: ActorHost<TokenKey, TokenActor, RuleRef>;
  readonly handoff: Handoff;
  /** The takes this owner may be asked to refund; a refund without one of its ids is refused. */
  readonly ledger: TakeLedger;
  /** The slices of this node's tokens that clients hold (client leases, leases.ts). */
  readonly leases: LeaseBook;
  /** Counts (and logs, rate-limited) what this node refused from inside the cluster. */
  readonly guard: Guard;
  readonly #deps: ThrottleDeps;
  /** Which tokens this node may have come to hold without their state, and their fences. */
  readonly ownership: Ownership;
  /** Compiled rules by id; a few per id while a rule change spreads (refs of both limits arrive). */
  readonly #rules = new Map<string, CompiledRule[]>();
  readonly #dormant: DormantTokens<HandoffItem>;
  #fenced = 0;
  /**
   * The latest lost-contact fence (domain ms) and its epoch, counted from 1:
   * an actor whose `fenceEpoch` is older takes it before its next message
   * ({@link #current}). Fences only ever rise, so the latest holds all before it.
   */
  #contactFence = Number.NEGATIVE_INFINITY;
  #contactEpoch = 0;
  #viewGivenUp = false;
  /** Tokens about to start although the hand-off of their state was expected and did not come. */
  readonly #withoutState = new Set<TokenKey>();

  constructor(deps: ThrottleDeps) {
    this.#deps = deps;
    const real = deps.realClock ?? deps.clock;
    this.guard = guardOf(deps.broker, real);
    // A refund follows its take within a round trip or two; the window is a generous bound.
    this.ledger = new TakeLedger(real, {
      windowMs: Math.max(REFUND_WINDOW_MS, 4 * deps.ownerTimeoutMs),
    });
    this.#dormant = new DormantTokens<HandoffItem>(deps.clock, (actor, snapshot) => ({
      rule: refOf(actor.rule),
      snapshot,
    }));
    this.ownership = new Ownership(deps.broker.nodeID, deps.clock, deps.ownership ?? ALONE);
    // Slice ids from a pool of random bytes: one getrandom call per 4 KiB, not one per grant.
    this.leases = new LeaseBook(
      deps.broker.nodeID,
      real,
      deps.tracker.placement,
      deps.leases,
      pooledRandomBytes(),
    );
    deps.tracker.onChange((p) => {
      this.ownership.viewChanged(p);
      this.leases.viewChanged(p);
    });
    this.host = new ActorHost<TokenKey, TokenActor, RuleRef>(
      (token, restored, takeRule) => {
        const handed = restored as HandoffItem | undefined;
        if (handed !== undefined) return this.#activate(token, handed, handed, takeRule);
        // A dormant token's state is dropped only once its actor is made (an activation that throws keeps it).
        return this.#dormant.wake(token, (sleeping) => this.#activate(token, undefined, sleeping, takeRule));
      },
      { clock: deps.clock, idleMs: deps.idleMs, maxActors: deps.maxActors },
      {
        onError: (key, err) => deps.broker.logger.error(`token actor ${key} failed: ${err.message}`),
        onPassivate: (key, actor, reason) => {
          // A failed actor's state sleeps too (its GCRA state is one assignment, whole at any throw):
          // restarted without it, a message that made the actor throw would hand out a fresh burst.
          if (reason !== 'idle' && reason !== 'evicted' && reason !== 'failed') return;
          this.#current(actor); // its state goes to sleep as a walk at the lost contact would have left it
          this.#dormant.sleep(key, actor);
        },
      },
    );
    this.handoff = new Handoff({
      broker: deps.broker,
      tracker: deps.tracker,
      clock: real,
      host: this.host,
      dormant: this.#dormant,
      current: (actor) => this.#current(actor),
      logError: (err) => deps.broker.logger.error('throttle:', err),
      onHandoffLost: (from) => {
        deps.broker.logger.warn(
          { event: 'handoff-lost', peer: from },
          `no hand-off from ${from} in time: tokens started now are fenced`,
        );
        this.ownership.stateLost();
      },
    });
  }

  /**
   * Makes `token`'s actor: from a hand-off item (`handed`), a dormant state
   * (`r`, the same as `handed` when handed) or a take's rule (`takeRule`).
   */
  #activate(
    token: TokenKey,
    handed: HandoffItem | undefined,
    r: HandoffItem | undefined,
    takeRule: RuleRef | undefined,
  ): TokenActor {
    // A hand-off or a dormant token brings its rule and state; a take, the rule it runs under.
    const ref = r?.rule ?? takeRule;
    if (ref === undefined) {
      throw new StateError(ErrorCode.NotFound, `token ${token} has no rule to activate with`);
    }
    const actor = new TokenActor(token, this.#ruleOf(ref), this.#deps.clock, r?.snapshot);
    // Started after the last lost contact: what it starts from is fenced below, if at all.
    actor.fenceEpoch = this.#contactEpoch;
    // Without its previous owner's state, a token another node may have served starts fenced.
    if (handed === undefined && this.#deps.ownership !== undefined) {
      // Another node may have seen the rule up to a settle time before this one (the rules' watch).
      const ruleSince = (this.#deps.ruleSinceMs?.(actor.rule.id) ?? -Infinity) - this.ownership.settleMs;
      const known = this.ownership.fenceFor(token, gcraToleranceMs(actor.rule.limit), ruleSince);
      let fence = known?.atMs;
      // A token whose expected hand-off did not come, or a stale gateway's item that landed
      // here (served where it lands, once): another node may be granting too for a while.
      const late = this.#withoutState.delete(token);
      if (late || this.#deps.tracker.placement.owner(token) !== this.#deps.broker.nodeID) {
        fence = Math.max(fence ?? 0, this.#deps.clock.now() + this.ownership.settleMs);
      }
      if (fence !== undefined) actor.fence(fence, known?.capMs ?? this.ownership.learnMs);
    }
    return actor;
  }

  /**
   * A RuleRef's compiled rule, cached: every node compiles each (id, limit)
   * once. Looked up by id and compared field by field: this runs on every
   * take, so no key string is built.
   */
  #ruleOf(ref: RuleRef): CompiledRule {
    const known = this.#rules.get(ref.id);
    if (known !== undefined) {
      for (const rule of known) if (sameLimit(rule, ref)) return rule;
    }
    const spec = parseRule({
      id: ref.id,
      key: ['token'],
      rate: ref.rate,
      // Rule periods are strings; a ref's periodMs is a compiled rule's (whole ms, 1 ms to 7 d).
      period: `${ref.periodMs}ms`,
      burst: ref.burst,
      mode: ref.mode,
    });
    const rule = compileRule(spec);
    if (this.#rules.size > 10_000) this.#rules.clear();
    // The newest first; older limits of the id are kept only while a change spreads (a few).
    this.#rules.set(ref.id, [rule, ...(known ?? []).slice(0, MAX_LIMITS_PER_RULE - 1)]);
    return rule;
  }

  /**
   * Runs every part's items on their actors; one decision list per part. An
   * allowed item marked `refundable` gets a take id (its refund's ticket).
   *
   * @param routedWith the placement this node's own gateway routed every
   *   item here with: while it is still the one in force, each item's owner
   *   is this node by it, and routing them again would find the same (a
   *   token resident here stays here either way), so they are not (issue 15).
   */
  async take(params: TakeParams, meta: TakeMeta = {}, routedWith?: object): Promise<TakeDecision[][]> {
    // A stall is noticed here, before anything is granted from a state others may have moved past.
    this.#deps.checkContact?.();
    // A gateway with a stale view sent us tokens we no longer own: pass them on once.
    if (params.forwarded !== true && !this.handoff.leaving && routedWith !== this.#deps.tracker.placement) {
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
      // Items whose actor is live and idle are decided now (ActorHost.tryNow); the rest queue.
      // Those decided now are decided at one time, read once for the part (they all run
      // synchronously, within the same few hundred microseconds; their actors are marked
      // active at it too, the host's clock being this one), and through one function
      // for the part instead of two closures per item (issue 15: the main thread's CPU).
      const items = part.items;
      const out = new Array<TakeDecision>(items.length);
      const atMs = this.#deps.clock.now();
      const decideNow = (actor: TokenActor, it: TakeItem): TakeDecision => {
        this.#prepare(actor, it.rule);
        return this.#decided(it, actor, atMs);
      };
      let queued: Promise<void>[] | undefined;
      for (let i = 0; i < items.length; i++) {
        const it = items[i]!;
        const now = this.host.tryNow(it.token, decideNow, it, atMs);
        if (now === NOT_NOW) (queued ??= []).push(this.#takeOne(it).then((d) => void (out[i] = d)));
        else if (isThenable(now)) (queued ??= []).push(now.then((d) => void (out[i] = d)));
        else out[i] = now;
      }
      if (queued !== undefined) await Promise.all(queued);
      return out;
    } catch (err) {
      recordFailure(span, err);
      throw err;
    } finally {
      span.end();
    }
  }

  #takeOne(item: TakeItem): Promise<TakeDecision> {
    return this.#withActor(item.token, item.rule, (actor) => this.#decided(item, actor));
  }

  /**
   * One take on its actor (inside its mailbox, or now when idle) at domain
   * time `nowMs`: the decision, its id, its record.
   */
  #decided(item: TakeItem, actor: TokenActor, nowMs = this.#deps.clock.now()): TakeDecision {
    const decision: TakeDecision = actor.check(item.cost, nowMs);
    // Only a take that may be refunded costs an id: single-rule checks never are.
    if (item.refundable === true && decision.allow) {
      decision.takeId = this.ledger.issue(item.token, item.cost, item.atMs, item.params);
    }
    this.#deps.observer?.decided(item, decision, nowMs);
    return decision;
  }

  /**
   * Runs `fn` in `token`'s actor under rule `ref`, activating it (after its
   * hand-off, if one is due). Not async while the actor is resident: the
   * take path costs one promise per item, the mailbox's.
   */
  #withActor<R>(token: TokenKey, ref: RuleRef, fn: (actor: TokenActor) => R): Promise<R> {
    // Inline arrows, not a named one: a named closure costs a keepNames helper call per item under tsx.
    if (this.host.has(token)) return this.host.ask(token, (actor) => this.#under(actor, ref, fn), ref);
    return this.handoff.awaitState(token).then((late) => {
      // Its expected hand-off did not come in time: it starts without its state, fenced.
      if (late) this.#withoutState.add(token);
      return this.host.ask(token, (actor) => this.#under(actor, ref, fn), ref);
    });
  }

  /** Runs `fn` on `actor` under the rule `ref` names (a changed limit replaces the actor's). */
  #under<R>(actor: TokenActor, ref: RuleRef, fn: (actor: TokenActor) => R): R {
    this.#prepare(actor, ref);
    return fn(actor);
  }

  /** Readies `actor` for a message under rule `ref`: the fence it has not taken, a changed limit. */
  #prepare(actor: TokenActor, ref: RuleRef): void {
    this.#current(actor);
    const rule = this.#ruleOf(ref);
    if (actor.rule !== rule) actor.setRule(rule);
  }

  /**
   * Grants a client a slice of a token this node owns (leases.ts): its units
   * are taken from the token's bucket now. The checks the client reports
   * deciding since its last report are recorded as the token's requests
   * (lease-demand.ts), granted or not, when this node owns the token.
   * Rejects with a retryable StateError when this node may not grant one
   * (not the owner, the token moved here recently, leaving).
   */
  async lease(ask: LeaseAsk): Promise<LeaseGrant> {
    this.#deps.checkContact?.();
    const refused = this.leases.refusal(ask.token, this.handoff.leaving);
    if (refused !== undefined && !(refused.owner && ask.report !== undefined)) throw refused.error;
    const grant = await this.#withActor(ask.token, ask.rule, (actor) => {
      if (ask.report !== undefined) this.#recordReported(actor, ask.report, ask.params);
      return refused === undefined ? this.leases.grant(actor, ask) : undefined;
    });
    if (grant === undefined) throw refused!.error;
    return grant;
  }

  /**
   * Takes a slice back; its unused units return to the bucket, and the
   * checks reported with it are recorded. Resolves the units given back.
   */
  async leaseReturn(ret: LeaseReturn): Promise<number> {
    // Passivated since: its bucket has refilled, only the record goes (and its window is asleep).
    if (!this.host.has(ret.token)) return this.leases.giveBack(undefined, ret);
    const params = this.leases.paramsOf(ret.lease);
    const out = await this.host.ask(ret.token, (actor): number | InputError => {
      this.#current(actor);
      let units: number;
      try {
        units = this.leases.giveBack(actor, ret);
      } catch (err) {
        // A slice not held (forged, returned twice, renewed): the caller's error, not the actor's
        // (thrown here it would fail the token's actor, passivating it). Nothing recorded.
        if (err instanceof InputError) return err;
        throw err;
      }
      if (ret.report !== undefined) this.#recordReported(actor, ret.report, params);
      return units;
    });
    if (out instanceof InputError) throw out;
    return out;
  }

  #recordReported(actor: TokenActor, report: LeaseReport, params: Params | undefined): void {
    recordReported(actor, report, params, this.#deps.observer, this.#deps.clock.now());
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
          this.#current(a);
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

  /** Where this node stands on token ownership (status): its view, learning time, hand-offs awaited. */
  ownershipStatus(): OwnershipStatus {
    return {
      view: [...this.#deps.tracker.placement.nodes],
      learningUntilMs: this.ownership.learningUntil(),
      pendingHandoffs: this.handoff.pending,
      fenced: this.#fenced,
    };
  }

  /** What this node refused from inside the cluster, and the take ids it holds. */
  stats(): ThrottleGuardStats {
    return { ...this.guard.stats(), takeIds: this.ledger.size, fenced: this.#fenced };
  }

  /**
   * Passes items to the owners this node sees (router.ts), keeping their
   * order in the reply; the tokens it holds, and any no node owns, run here.
   */
  async #forward(items: TakeItem[], routing: Routing, attempt = 1): Promise<TakeDecision[]> {
    const { broker, tracker } = this.#deps;
    const self = broker.nodeID;
    const here = routing.unowned.length === 0 ? routing.local : [...routing.local, ...routing.unowned];
    return await gather(items, [[self, here], ...routing.remote], async (owner, part) => {
      if (owner === self) return await Promise.all(part.map((it) => this.#takeOne(it)));
      try {
        const parts = { parts: [{ items: part }], forwarded: true };
        return (await linkTo(this.#deps.link, owner).take(owner, parts, {}, this.#deps.ownerTimeoutMs))[0]!;
      } catch (err) {
        // The owner this node sees is gone: route around it here too, as the gateway does (or,
        // while this node is itself cut off or just back, ask again a little later).
        if (!(err instanceof OwnerGone) || attempt >= 3) throw err;
        if (tracker.judging) tracker.suspect(owner, this.#deps.suspectMs ?? DEFAULT_SUSPECT_MS, 'forward');
        else await sleep(this.#deps.realClock ?? this.#deps.clock, BLIND_RETRY_MS);
        const again = routeItems(part, tracker.placement, self, (t) => this.host.has(t));
        return await this.#forward(part, again, attempt + 1);
      }
    });
  }

  /**
   * Call before serving another node's takes or forwarded checks: while this
   * node's view is not yet complete (it is joining and has not yet found
   * every node), a token it seems to own may be another node's, whose state
   * it must wait for. Waits until the view is complete, at most
   * {@link JOIN_WAIT_MS}; past that, the tokens it starts for a while are
   * fenced (ownership.ts).
   */
  async awaitCompleteView(): Promise<void> {
    const complete = this.#deps.viewComplete;
    if (complete === undefined || complete()) return;
    const real = this.#deps.realClock ?? this.#deps.clock;
    const until = real.now() + JOIN_WAIT_MS;
    while (!complete()) {
      if (real.now() >= until) {
        if (!this.#viewGivenUp) {
          this.#viewGivenUp = true;
          this.#deps.broker.logger.warn(
            { event: 'handoff-lost', peer: null },
            `the view is still incomplete after ${JOIN_WAIT_MS} ms: tokens started now are fenced`,
          );
          this.ownership.stateLost();
        }
        return;
      }
      await sleep(real, 25);
    }
  }

  /**
   * This node may have been taken for dead (a stall, a reconnect to NATS):
   * every token it holds is fenced (ownership.ts), so what other nodes
   * granted meanwhile is not granted again; tokens woken or started later
   * are fenced as they come. O(1): the fence is a new epoch that each actor
   * held now takes before its next message, its passivation or its
   * hand-off ({@link #current}); walking 100,000 actors here stalled the
   * node ~160 ms just after the stall that called it (issue 11).
   */
  contactLost(reason: 'stall' | 'reconnect'): void {
    const fence = this.ownership.lostContact(reason);
    this.#contactFence = Math.max(this.#contactFence, fence);
    this.#contactEpoch++;
    const n = this.host.size;
    this.#fenced += n;
    // A warning: a stalled or cut-off node is worth an operator's look (and its tokens lost their burst).
    this.#deps.broker.logger.warn(
      { event: 'fence', reason, tokens: n, untilMs: fence },
      `lost contact (${reason}): fenced ${n} tokens until ${new Date(fence).toISOString()}`,
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

  /**
   * Gives `actor` the lost-contact fence it has not taken yet: exactly what
   * fencing it at the lost contact would have done, as nothing ran on it
   * since (each message, passivation and hand-off calls this first). Later
   * fences cover earlier ones, so only the latest is applied.
   */
  #current(actor: TokenActor): void {
    if (actor.fenceEpoch === this.#contactEpoch) return;
    actor.fenceEpoch = this.#contactEpoch;
    actor.fence(this.#contactFence, this.ownership.learnMs);
  }

  describe(token: string): unknown {
    const actor = this.host.peek(token as TokenKey);
    if (actor !== undefined) {
      this.#current(actor);
      return { node: this.#deps.broker.nodeID, ...(actor.describe() as object) };
    }
    const dormant = this.#dormant.peek(token as TokenKey);
    return dormant === undefined
      ? null
      : { node: this.#deps.broker.nodeID, dormant: true, snapshot: dormant.snapshot };
  }
}
