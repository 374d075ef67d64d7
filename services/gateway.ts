/**
 * The check path on the node that received the request: derive the tokens
 * from the request's parameters and the rules, route each token to its
 * owner's actor (one call per owner for a whole batch), combine the answers,
 * and refund the budget a denied request took from its other tokens.
 */
import type { ServiceBroker } from 'moleculer';
import { SpanKind, trace } from '@opentelemetry/api';
import type { Context as OtelContext, Span } from '@opentelemetry/api';
import { ErrorCode, HeadroomError, StateError, combineDecisions, tokenKeyOf } from '../lib/index.ts';
import type { CheckReply, CheckRequest, Clock, RuleDecision, RuleSet } from '../lib/index.ts';
import { ACTOR_SERVICE } from './placement-tracker.ts';
import type { PlacementTracker } from './placement-tracker.ts';
import { injectContext, recordFailure, tracer } from './telemetry.ts';
import type { ThrottleNode } from './throttle-node.ts';
import { refOf } from './wire.ts';
import type { RefundParams, TakeItem, TakeMeta, TakePart, TakeParams } from './wire.ts';

export interface GatewayDeps {
  broker: ServiceBroker;
  tracker: PlacementTracker;
  clock: Clock;
  rules: () => RuleSet;
  /** How long to wait for an owner before routing around it. */
  ownerTimeoutMs: number;
  /** This node's own actors, reached without a Moleculer round trip. */
  local: ThrottleNode;
  /** Send each request's parameters to the owners, for behavioural data collection. @default false */
  collect?: boolean;
}

interface Waiter {
  resolve: (decisions: RuleDecision[]) => void;
  reject: (err: unknown) => void;
  span: Span;
}

/** Parts waiting for the next flush to one owner. */
interface Batch {
  parts: TakePart[];
  traces: Array<Record<string, string>>;
  waiters: Waiter[];
}

/** The calls to one owner: what is queued, and how many calls are out. */
interface Lane {
  queued: Batch;
  inflight: number;
  scheduled: boolean;
}

/** Calls in flight to one owner before further checks wait and batch up. */
const MAX_INFLIGHT = 2;

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
  readonly #lanes = new Map<string, Lane>();

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
          const item: TakeItem = {
            token: tokenKeyOf(rule, req.params),
            rule: refOf(rule),
            cost: req.cost,
            atMs: now,
          };
          if (this.#deps.collect) item.params = req.params;
          items.push(item);
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
      if (refunds.length > 0) await this.#refund(refunds);
      if (replies.length === 1) span.setAttribute('headroom.allow', replies[0]!.allow);
      return replies;
    } catch (err) {
      recordFailure(span, err);
      throw err;
    } finally {
      span.end();
    }
  }

  /** Sends each owner its items; re-routes around owners that do not answer. */
  async #take(items: TakeItem[], ctx: OtelContext, attempt = 1): Promise<RuleDecision[]> {
    const out = new Array<RuleDecision>(items.length);
    await Promise.all(
      [...this.#groupByOwner(items)].map(async ([owner, idx]) => {
        const part = idx.map((i) => items[i]!);
        let res: RuleDecision[];
        try {
          res = await this.#enqueue(owner, part, ctx);
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

  /**
   * Queues one check's items for `owner`. Calls to an owner are pipelined with
   * at most {@link MAX_INFLIGHT} in flight; whatever queues meanwhile travels
   * together in the next message. At low load a check goes out at once (next
   * turn of the event loop); under load batches grow by themselves, turning N
   * inter-node round trips (and N socket writes each way) into one.
   */
  #enqueue(owner: string, items: TakeItem[], ctx: OtelContext): Promise<RuleDecision[]> {
    const span = tracer().startSpan(
      'headroom.route.take',
      { kind: SpanKind.CLIENT, attributes: { 'headroom.owner': owner, 'headroom.tokens': items.length } },
      ctx,
    );
    return new Promise<RuleDecision[]>((resolve, reject) => {
      let lane = this.#lanes.get(owner);
      if (lane === undefined) {
        lane = { queued: { parts: [], traces: [], waiters: [] }, inflight: 0, scheduled: false };
        this.#lanes.set(owner, lane);
      }
      lane.queued.parts.push({ items });
      lane.queued.traces.push(injectContext(trace.setSpan(ctx, span)));
      lane.queued.waiters.push({ resolve, reject, span });
      this.#schedule(owner, lane);
    });
  }

  #schedule(owner: string, lane: Lane): void {
    if (lane.scheduled || lane.inflight >= MAX_INFLIGHT || lane.queued.parts.length === 0) return;
    lane.scheduled = true;
    setImmediate(() => {
      lane.scheduled = false;
      this.#flush(owner, lane);
    });
  }

  #flush(owner: string, lane: Lane): void {
    const batch = lane.queued;
    if (batch.parts.length === 0) return;
    lane.queued = { parts: [], traces: [], waiters: [] };
    lane.inflight++;
    const { broker, local } = this.#deps;
    const params: TakeParams = { parts: batch.parts };
    const meta: TakeMeta = { traces: batch.traces };
    // The owner is this node: no Moleculer round trip at all.
    const call =
      owner === broker.nodeID
        ? local.take(params, meta)
        : broker.call<RuleDecision[][], TakeParams>(`${ACTOR_SERVICE}.take`, params, {
            nodeID: owner,
            timeout: this.#deps.ownerTimeoutMs,
            retries: 0,
            meta,
          });
    call
      .then(
        (results) =>
          batch.waiters.forEach((w, i) => {
            w.span.end();
            w.resolve(results[i]!);
          }),
        (err: unknown) =>
          batch.waiters.forEach((w) => {
            recordFailure(w.span, err);
            w.span.end();
            w.reject(err);
          }),
      )
      .finally(() => {
        lane.inflight--;
        if (lane.inflight === 0 && lane.queued.parts.length === 0) this.#lanes.delete(owner);
        else this.#schedule(owner, lane);
      });
  }

  async #refund(items: TakeItem[]): Promise<void> {
    const { broker, local } = this.#deps;
    await Promise.all(
      [...this.#groupByOwner(items)].map(async ([owner, idx]) => {
        const params: RefundParams = { items: idx.map((i) => items[i]!) };
        try {
          if (owner === broker.nodeID) await local.refund(params.items);
          else
            await broker.call(`${ACTOR_SERVICE}.refund`, params, {
              nodeID: owner,
              timeout: this.#deps.ownerTimeoutMs,
            });
        } catch (err) {
          broker.logger.warn(`refund on ${owner} failed: ${(err as Error).message}`);
        }
      }),
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
}

function wrapCallError(err: unknown, owner: string): HeadroomError {
  if (err instanceof HeadroomError) return err;
  const e = err as Error;
  const code = e.name === 'RequestTimeoutError' ? ErrorCode.Timeout : ErrorCode.Unavailable;
  return new StateError(code, `token owner ${owner} did not answer: ${e.message}`, { cause: err });
}
