/**
 * The check path on the node that received the request: derive the tokens
 * from the request's parameters and the rules, route each token to its
 * owner's actor (one call per owner for a whole batch), combine the answers,
 * and refund the budget a denied request took from its other tokens.
 */
import type { ServiceBroker } from 'moleculer';
import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { Context as OtelContext } from '@opentelemetry/api';
import { ErrorCode, HeadroomError, StateError, combineDecisions, tokenKeyOf } from '../lib/index.ts';
import type { CheckReply, CheckRequest, Clock, RuleDecision, RuleSet } from '../lib/index.ts';
import { ACTOR_SERVICE } from './placement-tracker.ts';
import type { PlacementTracker } from './placement-tracker.ts';
import { injectContext, tracer } from './telemetry.ts';
import { refOf } from './throttle-service.ts';
import type { TakeItem, TakeParams } from './wire.ts';

export interface GatewayDeps {
  broker: ServiceBroker;
  tracker: PlacementTracker;
  clock: Clock;
  rules: () => RuleSet;
  /** How long to wait for an owner before routing around it. */
  ownerTimeoutMs: number;
}

/** Moleculer errors that mean "that node did not answer": route around it and retry. */
const UNREACHABLE = new Set([
  'RequestTimeoutError',
  'ServiceNotAvailableError',
  'ServiceNotFoundError',
  'RequestSkippedError',
  'RequestRejectedError',
]);
const isUnreachable = (err: unknown): boolean =>
  err instanceof Error &&
  (UNREACHABLE.has(err.name) || (err as { code?: unknown }).code === ErrorCode.Unavailable);

/** Attempts per owner call before the check fails: the first owner, then the re-routed ones. */
const ATTEMPTS = 3;

export class Gateway {
  readonly #deps: GatewayDeps;

  constructor(deps: GatewayDeps) {
    this.#deps = deps;
  }

  /** Checks requests in order; one reply per request. */
  async check(requests: readonly CheckRequest[], parent: OtelContext): Promise<CheckReply[]> {
    const span = tracer().startSpan(
      requests.length === 1 ? 'headroom.check' : 'headroom.check.batch',
      {
        kind: SpanKind.SERVER,
        attributes: { 'headroom.node': this.#deps.broker.nodeID, 'headroom.requests': requests.length },
      },
      parent,
    );
    const ctx = trace.setSpan(parent, span);
    try {
      const now = this.#deps.clock.now();
      const set = this.#deps.rules();
      const items: TakeItem[] = [];
      const itemsOf: number[][] = []; // request index -> its item indexes
      for (const req of requests) {
        const idx: number[] = [];
        for (const rule of set.matching(req.params, now)) {
          idx.push(items.length);
          items.push({ token: tokenKeyOf(rule, req.params), rule: refOf(rule), cost: req.cost });
        }
        itemsOf.push(idx);
      }
      const decisions = items.length > 0 ? await this.#take(items, ctx) : [];
      const refunds: TakeItem[] = [];
      const replies = itemsOf.map((idx) => {
        const combined = combineDecisions(idx.map((i) => decisions[i]!));
        for (const k of combined.refunds) refunds.push(items[idx[k]!]!);
        return combined.reply;
      });
      if (refunds.length > 0) await this.#refund(refunds, ctx);
      if (replies.length === 1) span.setAttribute('headroom.allow', replies[0]!.allow);
      return replies;
    } catch (err) {
      span.recordException(err as Error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
      throw err;
    } finally {
      span.end();
    }
  }

  /** Sends each owner its items in one call; re-routes around owners that do not answer. */
  async #take(items: TakeItem[], ctx: OtelContext, attempt = 1): Promise<RuleDecision[]> {
    const out = new Array<RuleDecision>(items.length);
    await Promise.all(
      [...this.#groupByOwner(items)].map(async ([owner, idx]) => {
        const part = idx.map((i) => items[i]!);
        let res: RuleDecision[];
        try {
          res = await this.#callOwner<RuleDecision[]>('take', owner, { items: part }, ctx);
        } catch (err) {
          if (!isUnreachable(err) || attempt >= ATTEMPTS) throw wrapCallError(err, owner);
          // The owner is gone or stuck: route around it for a while (a real departure
          // is confirmed by the heartbeat and removed from the registry).
          this.#deps.tracker.suspect(owner, 5000);
          res = await this.#take(part, ctx, attempt + 1);
        }
        idx.forEach((i, k) => (out[i] = res[k]!));
      }),
    );
    return out;
  }

  async #refund(items: TakeItem[], ctx: OtelContext): Promise<void> {
    await Promise.all(
      [...this.#groupByOwner(items)].map(([owner, idx]) =>
        this.#callOwner('refund', owner, { items: idx.map((i) => items[i]!) }, ctx).catch((err: unknown) =>
          this.#deps.broker.logger.warn(`refund on ${owner} failed: ${(err as Error).message}`),
        ),
      ),
    );
  }

  #groupByOwner(items: TakeItem[]): Map<string, number[]> {
    const groups = new Map<string, number[]>();
    const placement = this.#deps.tracker.placement;
    items.forEach((it, i) => {
      const owner = placement.owner(it.token);
      if (owner === undefined) {
        throw new StateError(ErrorCode.NoOwner, `no live node hosts token actors (token ${it.token})`, {
          field: 'params',
        });
      }
      const g = groups.get(owner);
      if (g === undefined) groups.set(owner, [i]);
      else g.push(i);
    });
    return groups;
  }

  async #callOwner<R>(
    action: 'take' | 'refund',
    owner: string,
    params: TakeParams,
    ctx: OtelContext,
  ): Promise<R> {
    const span = tracer().startSpan(
      `headroom.route.${action}`,
      {
        kind: SpanKind.CLIENT,
        attributes: { 'headroom.owner': owner, 'headroom.tokens': params.items.length },
      },
      ctx,
    );
    try {
      return await this.#deps.broker.call<R, TakeParams>(`${ACTOR_SERVICE}.${action}`, params, {
        nodeID: owner,
        timeout: this.#deps.ownerTimeoutMs,
        retries: 0,
        meta: injectContext(trace.setSpan(ctx, span)),
      });
    } catch (err) {
      span.recordException(err as Error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
      throw err;
    } finally {
      span.end();
    }
  }
}

function wrapCallError(err: unknown, owner: string): HeadroomError {
  if (err instanceof HeadroomError) return err;
  const e = err as Error;
  const code = e.name === 'RequestTimeoutError' ? ErrorCode.Timeout : ErrorCode.Unavailable;
  return new StateError(code, `token owner ${owner} did not answer: ${e.message}`, { cause: err });
}
