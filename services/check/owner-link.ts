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
 * subject, counted and logged by the node's Guard), and no callback ever
 * throws.
 */
import type { Msg, NatsConnection, Subscription } from 'nats';
import { ErrorCode, InputError, StateError, fromBody, toHeadroomError } from '../../lib/index.ts';
import type { CheckRequest } from '../../lib/index.ts';
import type { Context as OtelContext } from '@opentelemetry/api';
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

/** What an owner does with the messages (a ThrottleNode). */
export interface OwnerSide {
  take(params: TakeParams, meta: TakeMeta): Promise<TakeDecision[][]>;
  refund(items: readonly RefundItem[]): Promise<void>;
  /** Counts and logs the messages refused. */
  readonly guard: Guard;
}

/** A client's check handed to the node that owns its tokens, which replies to `replyTo`. */
export interface Forward {
  replyTo: string;
  /** The W3C trace context of the sender's route span. */
  trace: Record<string, string>;
  request: CheckRequest;
}

/** Answers a forwarded check; never throws (errors become the `{error}` reply). */
export type ForwardAnswerer = (request: unknown, trace: OtelContext) => Promise<unknown>;

/** Forwards queued for one owner, sent together on the next turn of the event loop. */
interface ForwardLane {
  forwards: Forward[];
  bounces: Array<(err: StateError) => void>;
  /** How long the owner has to answer the batch's clients and acknowledge it. */
  timeoutMs: number;
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
  readonly #forwardLanes = new Map<string, ForwardLane>();
  /** The owner's Guard, from {@link serve}; counts bad messages and replies. */
  #guard: Guard | undefined;
  constructor(nc: NatsConnection, namespace: string) {
    this.#nc = nc;
    this.#namespace = namespace;
    this.#requests = new LinkRequests(nc);
  }

  /** Serves this node's subjects; call before the node announces itself. */
  serve(nodeID: string, owner: OwnerSide): void {
    const base = linkSubject(this.#namespace, nodeID);
    const guard = owner.guard;
    this.#guard = guard;
    /** Validates a message, runs it and replies; a bad message gets a coded error and is counted. */
    const handle =
      <M, T>(op: string, parse: (body: unknown) => M, run: (m: M) => Promise<T>) =>
      (err: Error | null, msg: Msg): void => {
        if (err !== null) return;
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
    this.#subs.push(
      this.#nc.subscribe(`${linkSubject(this.#namespace, nodeID)}.forward`, {
        callback: (err, msg) => {
          if (err !== null) return;
          let batch: ForwardWire;
          try {
            batch = parseForwardBatch(decodeLinkJson(msg.data));
          } catch (e) {
            // Only gateways publish here: the sender bounces its clients on the error.
            const bad = toHeadroomError(e);
            const to = msg.reply ? '' : ' (no reply subject)';
            this.#guard?.refuse(Refused.Message, `forward on ${msg.subject}${to}: ${bad.message}`);
            reply(msg, { error: bad.toBody() });
            return;
          }
          const answered = batch.map(([replyTo, traceparent, tracestate, request]) => {
            const carrier: Record<string, string> = {};
            if (traceparent !== '') carrier['traceparent'] = traceparent;
            if (tracestate !== '') carrier['tracestate'] = tracestate;
            return answer(request, extractContext(carrier)).then((body) =>
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
    let lane = this.#forwardLanes.get(owner);
    if (lane === undefined) {
      lane = { forwards: [], bounces: [], timeoutMs };
      this.#forwardLanes.set(owner, lane);
      setImmediate(() => this.#flushForwards(owner));
    }
    lane.forwards.push(fwd);
    lane.bounces.push(bounce);
  }

  #flushForwards(owner: string): void {
    const lane = this.#forwardLanes.get(owner);
    this.#forwardLanes.delete(owner);
    if (lane === undefined) return;
    const wire: ForwardWire = lane.forwards.map((f) => [
      f.replyTo,
      f.trace['traceparent'] ?? '',
      f.trace['tracestate'] ?? '',
      f.request,
    ]);
    const bounce = (err: StateError): void => lane.bounces.forEach((b) => b(err));
    this.#send(owner, 'forward', wire, lane.timeoutMs, {
      // An empty reply is the acknowledgement; anything else is the owner's refusal.
      resolve: (data) => {
        if (data.byteLength === 0) return;
        let why: string;
        try {
          const r = parseLinkReply(decodeLinkJson(data), () => undefined);
          if (!('error' in r)) return;
          why = r.error.message;
        } catch (e) {
          why = `a malformed reply: ${toHeadroomError(e).message}`;
          this.#guard?.refuse(Refused.Reply, `forward reply from ${owner}: ${why}`);
        }
        bounce(
          new StateError(ErrorCode.Unavailable, `token owner ${owner} refused the forwarded checks: ${why}`),
        );
      },
      reject: bounce,
    });
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
    op: string,
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
      this.#guard?.refuse(Refused.Reply, `${op} reply from ${owner}: ${bad.message}`);
      throw new InputError(bad.code, `token owner ${owner} sent a malformed ${op} reply: ${bad.message}`, {
        ...(bad.field === undefined ? {} : { field: bad.field }),
        cause: e,
      });
    }
    if ('error' in r) throw fromBody(r.error);
    return r.ok;
  }

  /** Publishes `body` to `owner`'s `op` subject; the reply (or the failure) settles `on`. */
  #send(owner: string, op: string, body: unknown, timeoutMs: number, on: ReplyHandlers): void {
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
