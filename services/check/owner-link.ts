/**
 * The hot half of node-to-node traffic: a gateway's takes and refunds to a
 * token's owner, as plain NATS request/reply on the node's API connection.
 *
 * Why not a Moleculer action: a Moleculer call wraps every message in a
 * packet with a dozen envelope fields, a Context on each side, a middleware
 * chain and a timer, which cost several times the work of the check itself
 * (bench/check-nats.ts). Membership, hand-off and the REPL stay on Moleculer;
 * only the per-check messages travel here. Each node subscribes to its own
 * subjects (`headroom.int[.<namespace>].<nodeID>.take|refund`, no queue
 * group); an owner that is gone has no subscriber, so NATS answers "no
 * responders" at once and the gateway routes around it without waiting for
 * its timeout.
 *
 * Subjects (role `node` only; ops/nats/secure.conf keeps every other role
 * off them): `<link>.take`, `<link>.refund`, `<link>.forward`, and the reply
 * inbox `_HEADROOM.<uuid>.<seq>` (link-requests.ts). Nothing arriving on
 * them is trusted: each message is validated (services/wire) before it is
 * used, a bad one is answered with a coded error (or, without a reply
 * subject, counted and logged by the node's Guard), an error a subscription
 * reports is counted and logged there too, and no callback ever throws.
 * Forwarded checks are batched per owner in forward-lanes.ts.
 */
import type { Msg, NatsConnection, Subscription } from 'nats';
import { ErrorCode, InputError, StateError, fromBody, toHeadroomError } from '../../lib/index.ts';
import type { Clock } from '../../lib/index.ts';
import {
  Refused,
  decodeLinkJson,
  parseForwardBatch,
  parseRefundMessage,
  parseTakeMessage,
  parseLinkReply,
  refundReplyOk,
  takeReplyChecker,
} from '../wire/index.ts';
import type {
  Guard,
  ForwardWire,
  TakeMessage,
  LinkReply,
  RefundItem,
  RefundParams,
  TakeDecision,
  TakeMeta,
  TakeParams,
} from '../wire/index.ts';
import { Inflight, extractContext } from '../runtime/index.ts';
import { LinkRequests } from './link-requests.ts';
import type { ReplyHandlers } from './link-requests.ts';
import { ForwardLanes } from './forward-lanes.ts';
import type { Forward, ForwardAnswerer } from './forward-lanes.ts';
import { noLinkMetrics } from './check-metrics.ts';
import type { LinkMetrics, LinkOp } from './check-metrics.ts';

/** What an owner does with the messages (a ThrottleNode). */
export interface OwnerSide {
  take(params: TakeParams, meta: TakeMeta): Promise<TakeDecision[][]>;
  refund(items: readonly RefundItem[]): Promise<void>;
}

const PREFIX = 'headroom.int';

/** The subject prefix of a node's link. */
export function linkSubject(namespace: string, nodeID: string): string {
  return namespace === '' ? `${PREFIX}.${nodeID}` : `${PREFIX}.${namespace}.${nodeID}`;
}

export class OwnerLink {
  readonly #nc: NatsConnection;
  readonly #namespace: string;
  #subs: Subscription[] = [];
  readonly #inflight = new Inflight();
  /** Takes, refunds and forwards out, and their replies (link-requests.ts). */
  readonly #requests: LinkRequests;
  /** Checks handed to their tokens' owner, batched per owner (forward-lanes.ts). */
  readonly #forwards: ForwardLanes;
  /** The node's Guard: counts (and logs) bad messages, bad replies and subscription errors. */
  readonly #guard: Guard;
  /** Counts the messages sent and received (services/metrics). */
  readonly #metrics: LinkMetrics;

  /** `clock` times the requests' deadlines; `guard` is the node's (services/wire guardOf). */
  constructor(nc: NatsConnection, namespace: string, clock: Clock, guard: Guard, metrics = noLinkMetrics) {
    this.#nc = nc;
    this.#metrics = metrics;
    this.#namespace = namespace;
    this.#guard = guard;
    this.#requests = new LinkRequests(nc, clock, (err, subject) => this.#subscriptionFailed(err, subject));
    this.#forwards = new ForwardLanes((owner, wire, timeoutMs, on) => {
      this.#send(owner, 'forward', wire, timeoutMs, on);
    }, guard);
  }

  /** A subscription reported an error (a permissions violation, say): counted and logged, rate-limited. */
  #subscriptionFailed(err: Error, subject: string): void {
    this.#guard.refuse(Refused.Subscription, `the link subscription on ${subject}: ${err.message}`);
  }

  /** Serves this node's subjects; call before the node announces itself. */
  serve(nodeID: string, owner: OwnerSide): void {
    const base = linkSubject(this.#namespace, nodeID);
    const guard = this.#guard;
    /** Validates a message, runs it and replies; a bad message gets a coded error and is counted. */
    const handle =
      <M, T>(op: LinkOp, parse: (body: unknown) => M, run: (m: M) => Promise<T>) =>
      (err: Error | null, msg: Msg): void => {
        if (err !== null) {
          this.#subscriptionFailed(err, `${base}.${op}`);
          return;
        }
        this.#metrics.message(op, 'in');
        let m: M;
        try {
          m = parse(decodeLinkJson(msg.data));
        } catch (e) {
          const bad = toHeadroomError(e);
          const to = msg.reply ? '' : ' (no reply subject)';
          guard.refuse(Refused.Message, `${op} on ${msg.subject}${to}: ${bad.message}`);
          reply(msg, { error: bad.toBody() });
          return;
        }
        this.#inflight.track(
          run(m).then(
            (ok) => reply(msg, { ok }),
            (e: unknown) => reply(msg, { error: toHeadroomError(e).toBody() }),
          ),
        );
      };
    this.#subs.push(
      this.#nc.subscribe(`${base}.take`, {
        callback: handle('take', parseTakeMessage, async (m) => {
          const params: TakeParams = { parts: m.parts };
          if (m.forwarded === true) params.forwarded = true;
          return await owner.take(params, m.traces === undefined ? {} : { traces: m.traces });
        }),
      }),
      this.#nc.subscribe(`${base}.refund`, {
        callback: handle('refund', parseRefundMessage, async (m) => {
          await owner.refund(m.items);
          return true;
        }),
      }),
    );
  }

  /**
   * Serves forwarded checks: answers every client, then acknowledges the
   * batch. The acknowledgement means "answered", not "received": if this
   * node dies or stalls with a batch in hand, the sender's timeout fires and
   * it answers those clients itself (a client may then get two replies; it
   * keeps the first).
   */
  serveForwards(nodeID: string, answer: ForwardAnswerer): void {
    const subject = `${linkSubject(this.#namespace, nodeID)}.forward`;
    this.#subs.push(
      this.#nc.subscribe(subject, {
        callback: (err, msg) => {
          if (err !== null) {
            this.#subscriptionFailed(err, subject);
            return;
          }
          this.#metrics.message('forward', 'in');
          let batch: ForwardWire;
          try {
            batch = parseForwardBatch(decodeLinkJson(msg.data));
          } catch (e) {
            // Only gateways publish here: the sender bounces its clients on the error.
            const bad = toHeadroomError(e);
            const to = msg.reply ? '' : ' (no reply subject)';
            this.#guard.refuse(Refused.Message, `forward on ${msg.subject}${to}: ${bad.message}`);
            reply(msg, { error: bad.toBody() });
            return;
          }
          const answered = batch.map(([replyTo, traceparent, tracestate, items]) => {
            const carrier: Record<string, string> = {};
            if (traceparent !== '') carrier['traceparent'] = traceparent;
            if (tracestate !== '') carrier['tracestate'] = tracestate;
            return answer(items, extractContext(carrier)).then((body) =>
              this.#nc.publish(replyTo, JSON.stringify(body)),
            );
          });
          // An answer that could not be published is not acknowledged: the sender's timeout answers it.
          this.#inflight.track(
            Promise.all(answered).then(() => {
              if (msg.reply) msg.respond();
            }),
          );
        },
      }),
    );
  }

  /**
   * Hands a check to `owner`, which replies to the client. Forwards queued in
   * one turn of the event loop travel in one message; `bounce` runs if the
   * owner is gone or has not answered them all within the timeout.
   */
  forward(owner: string, fwd: Forward, bounce: (err: StateError) => void, timeoutMs: number): void {
    this.#forwards.forward(owner, fwd, bounce, timeoutMs);
  }

  /** Sends `owner` a take; rejects with an unreachable error if nobody answers. */
  async take(
    owner: string,
    params: TakeParams,
    meta: TakeMeta,
    timeoutMs: number,
  ): Promise<TakeDecision[][]> {
    const m: TakeMessage = { parts: params.parts };
    if (meta.traces !== undefined) m.traces = meta.traces;
    if (params.forwarded === true) m.forwarded = true;
    return await this.#request(owner, 'take', m, timeoutMs, takeReplyChecker(params.parts));
  }

  async refund(owner: string, params: RefundParams, timeoutMs: number): Promise<void> {
    await this.#request(owner, 'refund', params, timeoutMs, refundReplyOk);
  }

  /**
   * Sends a request and validates the reply with `ok`. A malformed reply is
   * counted and rejects with a coded, non-retryable error: it is never read
   * as "owner unreachable", which would route the tokens elsewhere.
   */
  async #request<T>(
    owner: string,
    op: LinkOp,
    body: unknown,
    timeoutMs: number,
    ok: (v: unknown) => T,
  ): Promise<T> {
    const data = await new Promise<Uint8Array>((resolve, reject) =>
      this.#send(owner, op, body, timeoutMs, { resolve, reject }),
    );
    let r: LinkReply<T>;
    try {
      r = parseLinkReply(decodeLinkJson(data), ok);
    } catch (e) {
      const bad = toHeadroomError(e);
      this.#guard.refuse(Refused.Reply, `${op} reply from ${owner}: ${bad.message}`);
      throw new InputError(bad.code, `token owner ${owner} sent a malformed ${op} reply: ${bad.message}`, {
        ...(bad.field === undefined ? {} : { field: bad.field }),
        cause: e,
      });
    }
    if ('error' in r) throw fromBody(r.error);
    return r.ok;
  }

  /** Publishes `body` to `owner`'s `op` subject; the reply (or the failure) settles `on`. */
  #send(owner: string, op: LinkOp, body: unknown, timeoutMs: number, on: ReplyHandlers): void {
    this.#metrics.message(op, 'out');
    this.#requests.send(owner, `${linkSubject(this.#namespace, owner)}.${op}`, body, timeoutMs, on);
  }

  /** Stops serving (peers then get "no responders") and waits for the replies in flight. */
  async close(): Promise<void> {
    const subs = this.#subs;
    this.#subs = [];
    await Promise.allSettled(subs.map((s) => s.drain()));
    await this.#inflight.idle();
    this.#requests.close();
  }
}

/** Answers `msg` if it asked for an answer; a connection closing meanwhile loses the answer, never throws. */
function reply(msg: Msg, body: unknown): void {
  if (!msg.reply) return;
  try {
    msg.respond(JSON.stringify(body));
  } catch {
    // The connection is closing: the requester's timeout answers for us.
  }
}

/** `link`, or the error for an owner on another node when this node runs alone (no NATS). */
export function linkTo(link: OwnerLink | undefined, owner: string): OwnerLink {
  if (link === undefined) {
    throw new StateError(
      ErrorCode.Unavailable,
      `token owner ${owner} is another node, and this node has no NATS link`,
    );
  }
  return link;
}
