/**
 * The check path on the node that received the request: derive the tokens
 * from the request's parameters and the rules, route each token to its
 * owner's actor (one call per owner for a whole batch), combine the answers,
 * and refund the budget a denied request took from its other tokens. A
 * refund names the take id its owner issued (only takes of requests that
 * matched several rules get one: a single-rule request never refunds), and
 * goes to the node that issued it.
 */
import type { ServiceBroker } from 'moleculer';
import { SpanKind, trace } from '@opentelemetry/api';
import type { Context as OtelContext, Span } from '@opentelemetry/api';
import {
  ErrorCode,
  HeadroomError,
  MatchMemo,
  StateError,
  combineDecisions,
  replyOfOne,
  sleep,
  toHeadroomError,
} from '../../lib/index.ts';
import type { CheckReply, CheckRequest, Clock, CompiledRule, ErrorBody, RuleSet } from '../../lib/index.ts';
import type { PlacementTracker } from '../cluster/index.ts';
import { injectContext, recordFailure, tracer } from '../runtime/index.ts';
import { linkTo } from './owner-link.ts';
import type { OwnerLink } from './owner-link.ts';
import { OwnerLanes } from './owner-lanes.ts';
import { BLIND_RETRY_MS, DEFAULT_SUSPECT_MS, OwnerGone } from './link-requests.ts';
import { gather, groupsOf, routeItems, soleRemoteOwner } from './router.ts';
import type { ThrottleNode } from './throttle-node.ts';
import { noCheckMetrics } from './check-metrics.ts';
import { LeaseDesk } from './lease-desk.ts';
import type { CheckMetrics } from './check-metrics.ts';
import { refOf } from '../wire/index.ts';
import type {
  RefundItem,
  RefundParams,
  RuleRef,
  TakeDecision,
  TakeItem,
  TakeMeta,
  TakeParams,
} from '../wire/index.ts';

export interface GatewayDeps {
  broker: ServiceBroker;
  tracker: PlacementTracker;
  /** Domain time: a request's time, rule windows (scaled under `--time-scale`). */
  clock: Clock;
  /** Wall-clock time for retry windows and pauses while an owner is unreachable. @default clock */
  realClock?: Clock;
  rules: () => RuleSet;
  /** How long to wait for an owner before the check fails (retryable). */
  ownerTimeoutMs: number;
  /** How long an owner with no subscriber is routed around (the heartbeats' dead-after time). @default 1000 */
  suspectMs?: number;
  /** This node's own actors, reached without a message. */
  local: ThrottleNode;
  /** The other owners; absent when the node runs alone (embedded). */
  link?: OwnerLink;
  /** Send each request's parameters to the owners, for behavioural data collection. @default false */
  collect?: boolean;
  /** Counts decisions and times calls (services/metrics). @default counts nothing */
  metrics?: CheckMetrics;
}

/** What {@link Gateway.checkOne} returns when another node answers the client. */
export const FORWARDED = Symbol('forwarded');

/**
 * Take items of a list of requests, and which items each request has: a
 * request's items are consecutive, request r's are `items[firstOf[r]]` up to
 * (not including) `items[firstOf[r + 1]]` (one list per batch, not one per
 * request).
 */
interface Derived {
  items: TakeItem[];
  firstOf: number[];
}

/** A decision as the gateway holds it: a refundable take remembers the node that issued its id. */
interface Answered extends TakeDecision {
  issuer?: string;
}

/**
 * Whether a failed owner call may be routed around now: only when NATS found
 * no subscriber for the owner (it grants nothing over NATS then, see
 * link-requests.ts OwnerGone) and this node is not itself cut off or just
 * back (then no subscriber proves nothing). A timeout is never routed
 * around: a slow owner is still granting, and a second grantor without its
 * state would let the token through twice (issue 11); the check fails with
 * a retryable error and the heartbeats decide whether the node is gone.
 */
const mayRouteAround = (err: unknown, tracker: PlacementTracker): err is OwnerGone =>
  err instanceof OwnerGone && tracker.judging;

/** Attempts per owner call before the check fails: the first owner, then the re-routed ones. */
const ATTEMPTS = 4;

/**
 * Most params values a gateway remembers the matched rules and tokens of
 * (lib/match-memo.ts; about 200 bytes each, it starts over when full).
 */
const MAX_REMEMBERED = 20_000;

export class Gateway {
  readonly #deps: GatewayDeps;
  readonly #lanes: OwnerLanes;
  readonly #metrics: CheckMetrics;
  readonly #refs = new WeakMap<CompiledRule, RuleRef>();
  /** The rules in force's matches, remembered by params values; replaced with the rule set. */
  #matched: MatchMemo | undefined;
  /** Client leases asked of this node (`headroom.v1.lease`, lease-desk.ts). */
  readonly leases: LeaseDesk;

  constructor(deps: GatewayDeps) {
    this.#deps = deps;
    this.#metrics = deps.metrics ?? noCheckMetrics;
    this.leases = new LeaseDesk(deps);
    // The owner is this node: no message at all.
    this.#lanes = new OwnerLanes((owner, params, meta, routedWith) =>
      owner === deps.broker.nodeID
        ? deps.local.take(params, meta, routedWith)
        : this.#remoteTake(owner, params, meta),
    );
  }

  /** Checks requests in order; one reply per request. */
  async check(requests: readonly CheckRequest[], parent: OtelContext): Promise<CheckReply[]> {
    const t0 = this.#metrics.start();
    const span = this.#checkSpan(requests.length, parent);
    const ctx = trace.setSpan(parent, span);
    try {
      const replies = await this.#decide(this.#derive(requests), ctx, true);
      if (replies.length === 1) span.setAttribute('headroom.allow', replies[0]!.allow);
      this.#metrics.decided(replies, t0);
      return replies;
    } catch (err) {
      this.#metrics.failed(requests.length, t0);
      recordFailure(span, err);
      throw err;
    } finally {
      span.end();
    }
  }

  /**
   * Answers a check another gateway handed to this node (see
   * {@link checkOne}) with the take items that gateway derived: nothing is
   * parsed or matched again, as with a take. Its spans continue the sender's
   * route span (`parent`), and it hands nothing on. Never throws: a failure
   * is the `{error}` reply.
   */
  async answerForward(items: TakeItem[], parent: OtelContext): Promise<CheckReply | { error: ErrorBody }> {
    const t0 = this.#metrics.start();
    try {
      const [reply] = await this.#decide({ items, firstOf: [0, items.length] }, parent, false);
      this.#metrics.decidedOne(reply!, t0);
      return reply!;
    } catch (err) {
      this.#metrics.failed(1, t0);
      const e = toHeadroomError(err);
      if (e.code === ErrorCode.Internal) this.#deps.broker.logger.error('check failed:', err);
      return { error: e.toBody() };
    }
  }

  /**
   * One check from a front end whose client another node can answer (NATS:
   * the request's reply subject). When every token of the request lives on
   * one other node, its take items (derived here, see {@link answerForward})
   * go there whole and that node replies to the client itself: one message
   * less on the way back, and the combining and refunds happen where the
   * tokens are. Returns {@link FORWARDED} then;
   * `bounce` runs if that node turns out to be gone (NATS "no responders")
   * or has not answered it within the owner timeout, and should answer
   * the client from here. Anything else is checked here, as {@link check}.
   */
  async checkOne(
    req: CheckRequest,
    parent: OtelContext,
    replyTo: string,
    bounce: () => void,
  ): Promise<CheckReply | typeof FORWARDED> {
    const t0 = this.#metrics.start();
    const span = this.#checkSpan(1, parent);
    const ctx = trace.setSpan(parent, span);
    try {
      const derived = this.#derive([req]);
      const owner =
        this.#deps.link === undefined
          ? undefined
          : soleRemoteOwner(
              routeItems(derived.items, this.#deps.tracker.placement, this.#deps.broker.nodeID),
            );
      if (owner !== undefined) {
        const route = tracer().startSpan(
          'headroom.route.take',
          {
            kind: SpanKind.CLIENT,
            attributes: {
              'headroom.owner': owner,
              'headroom.tokens': derived.items.length,
              'headroom.forwarded': true,
            },
          },
          ctx,
        );
        this.#deps.link!.forward(
          owner,
          { replyTo, trace: injectContext(trace.setSpan(ctx, route)), items: derived.items },
          (err) => {
            // Answered from here after all; the owner is routed around only if it is gone.
            if (mayRouteAround(err, this.#deps.tracker)) this.#suspect(owner, 'forward');
            else this.#deps.broker.logger.warn(`forward to ${owner} bounced: ${err.message}`);
            bounce();
          },
          this.#deps.ownerTimeoutMs,
        );
        route.end();
        return FORWARDED;
      }
      const [reply] = await this.#decide(derived, ctx, true);
      span.setAttribute('headroom.allow', reply!.allow);
      this.#metrics.decidedOne(reply!, t0);
      return reply!;
    } catch (err) {
      this.#metrics.failed(1, t0);
      recordFailure(span, err);
      throw err;
    } finally {
      span.end();
    }
  }

  #checkSpan(requests: number, parent: OtelContext): Span {
    return tracer().startSpan(
      requests === 1 ? 'headroom.check' : 'headroom.check.batch',
      {
        kind: SpanKind.SERVER,
        attributes: { 'headroom.node': this.#deps.broker.nodeID, 'headroom.requests': requests },
      },
      parent,
    );
  }

  /** The requests' take items, from the rules in force now. */
  #derive(requests: readonly CheckRequest[]): Derived {
    const now = this.#deps.clock.now();
    const set = this.#deps.rules();
    let memo = this.#matched;
    if (memo?.rules !== set) this.#matched = memo = new MatchMemo(set, MAX_REMEMBERED);
    const items: TakeItem[] = [];
    const firstOf: number[] = [];
    for (const req of requests) {
      firstOf.push(items.length);
      const { rules, tokens } = memo.get(req.params, now);
      // Only a request that matched several rules can be denied by one after another took.
      const refundable = rules.length > 1;
      for (let k = 0; k < rules.length; k++) {
        const item: TakeItem = {
          token: tokens[k]!,
          rule: this.#refOf(rules[k]!),
          cost: req.cost,
          atMs: now,
        };
        if (this.#deps.collect) item.params = req.params;
        if (refundable) item.refundable = true;
        items.push(item);
      }
    }
    firstOf.push(items.length);
    return { items, firstOf };
  }

  /**
   * The rule's RuleRef, made once per compiled rule (a rule change compiles
   * new ones; the old ones' entries go with them). Shared by every item under
   * the rule: read only from here on (sent, or compared field by field).
   */
  #refOf(rule: CompiledRule): RuleRef {
    let ref = this.#refs.get(rule);
    if (ref === undefined) this.#refs.set(rule, (ref = refOf(rule)));
    return ref;
  }

  /** Takes the items, combines each request's decisions and refunds what denied requests took. */
  async #decide({ items, firstOf }: Derived, ctx: OtelContext, routeSpans: boolean): Promise<CheckReply[]> {
    const decisions = items.length > 0 ? await this.#take(items, ctx, routeSpans) : [];
    const refunds: Array<{ item: RefundItem; issuer: string }> = [];
    const replies = new Array<CheckReply>(firstOf.length - 1);
    for (let r = 0; r < replies.length; r++) {
      const from = firstOf[r]!;
      const to = firstOf[r + 1]!;
      // One rule (most checks): its reply, nothing to refund, no lists around it.
      const one = to - from === 1 ? replyOfOne(decisions[from]!) : undefined;
      if (one !== undefined) {
        replies[r] = one;
        continue;
      }
      const combined = combineDecisions(decisions.slice(from, to));
      for (const k of combined.refunds) {
        const d = decisions[from + k]!;
        // Without an id (an owner that issues none) there is nothing the owner would accept.
        if (d.takeId === undefined || d.issuer === undefined) continue;
        const it = items[from + k]!;
        refunds.push({ item: { token: it.token, cost: it.cost, takeId: d.takeId }, issuer: d.issuer });
      }
      replies[r] = combined.reply;
    }
    if (refunds.length > 0) await this.#refund(refunds);
    return replies;
  }

  /** Sends each owner its items (router.ts); re-routes around owners that do not answer. */
  async #take(
    items: TakeItem[],
    ctx: OtelContext,
    routeSpans: boolean,
    attempt = 1,
    blindUntil = (this.#deps.realClock ?? this.#deps.clock).now() + 2 * this.#deps.ownerTimeoutMs,
  ): Promise<Answered[]> {
    const self = this.#deps.broker.nodeID;
    const placement = this.#deps.tracker.placement;
    const routing = routeItems(items, placement, self);
    const first = routing.unowned[0];
    if (first !== undefined) {
      const token = items[first]!.token;
      throw new StateError(ErrorCode.NoOwner, `no live node hosts token actors (token ${token})`, {
        field: 'params',
      });
    }
    return await gather(items, groupsOf(routing, self), async (owner, part): Promise<Answered[]> => {
      try {
        const res: Answered[] = await this.#enqueue(owner, part, ctx, routeSpans, placement);
        // The refund of a take goes where its id was issued (a re-routed part set it already).
        for (const d of res) if (d.takeId !== undefined) d.issuer ??= owner;
        return res;
      } catch (err) {
        if (!(err instanceof OwnerGone)) throw wrapCallError(err, owner);
        // The owner is gone: route around it until the heartbeats say (beats.ts).
        if (mayRouteAround(err, this.#deps.tracker)) {
          if (attempt >= ATTEMPTS) throw wrapCallError(err, owner);
          this.#suspect(owner, 'take');
          return await this.#take(part, ctx, routeSpans, attempt + 1, blindUntil);
        }
        // This node is itself just back on NATS: the owner may be resubscribing; ask again soon.
        const real = this.#deps.realClock ?? this.#deps.clock;
        if (real.now() + BLIND_RETRY_MS > blindUntil) throw wrapCallError(err, owner);
        await sleep(real, BLIND_RETRY_MS);
        return await this.#take(part, ctx, routeSpans, attempt, blindUntil);
      }
    });
  }

  /** Routes around `owner` (NATS has no subscriber for it) for the heartbeats' dead-after time. */
  #suspect(owner: string, via: 'take' | 'forward'): void {
    this.#deps.tracker.suspect(owner, this.#deps.suspectMs ?? DEFAULT_SUSPECT_MS, via);
  }

  /**
   * Queues one check's items for `owner` on its lane (owner-lanes.ts), with a
   * route span unless forwarded; `placement` is the one they were routed with.
   */
  #enqueue(
    owner: string,
    items: TakeItem[],
    ctx: OtelContext,
    routeSpan: boolean,
    placement: object,
  ): Promise<TakeDecision[]> {
    // A forwarded check's actor spans continue the sending gateway's route span.
    const span = routeSpan
      ? tracer().startSpan(
          'headroom.route.take',
          { kind: SpanKind.CLIENT, attributes: { 'headroom.owner': owner, 'headroom.tokens': items.length } },
          ctx,
        )
      : undefined;
    const carrier = injectContext(span === undefined ? ctx : trace.setSpan(ctx, span));
    return this.#lanes.enqueue(owner, items, carrier, span, placement);
  }

  /** Gives the takes back, each to the node that issued its id; a refusal is logged, never raised. */
  async #refund(refunds: ReadonlyArray<{ item: RefundItem; issuer: string }>): Promise<void> {
    const { broker, local } = this.#deps;
    const byOwner = new Map<string, RefundItem[]>();
    for (const { item, issuer } of refunds) {
      const list = byOwner.get(issuer);
      if (list === undefined) byOwner.set(issuer, [item]);
      else list.push(item);
    }
    await Promise.all(
      [...byOwner].map(async ([owner, list]) => {
        const params: RefundParams = { items: list };
        try {
          if (owner === broker.nodeID) await local.refund(params.items);
          else await linkTo(this.#deps.link, owner).refund(owner, params, this.#deps.ownerTimeoutMs);
        } catch (err) {
          broker.logger.warn(`refund on ${owner} failed: ${(err as Error).message}`);
        }
      }),
    );
  }

  async #remoteTake(owner: string, params: TakeParams, meta: TakeMeta): Promise<TakeDecision[][]> {
    return await linkTo(this.#deps.link, owner).take(owner, params, meta, this.#deps.ownerTimeoutMs);
  }
}

function wrapCallError(err: unknown, owner: string): HeadroomError {
  if (err instanceof HeadroomError) return err;
  const e = err as Error;
  return new StateError(ErrorCode.Unavailable, `token owner ${owner} failed: ${e.message}`, { cause: err });
}
