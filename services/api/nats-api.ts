/**
 * The public NATS request API. Every node subscribes to the operations,
 * `headroom.v1.<op>` and `headroom.v1.<op>.<sub>` (one and two tokens: no
 * deeper), in one queue group, so any node answers any request. Each node
 * also answers checks on its own subjects, `headroom.v1.node.<id>.check`
 * and `.check.batch`, outside the queue group: a client that knows the
 * owner of a check's tokens (client/, from `headroom.v1.topology`) sends it
 * there, two messages like an echo instead of four. A node answers those
 * through the same gateway path (handlers.ts), so a check for a token it
 * does not own (a stale client topology) is still decided by the owner; and
 * because nothing else subscribes to a node's subjects, a gone node's
 * requests fail at once with "no responders" and the client falls back to
 * `headroom.v1.check`. The queue subscriptions stop at two tokens for that
 * reason; the few shared operations of three (`lease.return.batch`,
 * topology.ts DEEP_OPS) are subscribed to by name. Every node publishes
 * `headroom.v1.topology.changed` when its view or the rules change
 * (topology.ts). Replies are JSON.
 */
import type { Msg, NatsConnection, Subscription } from 'nats';
import { extractContext, Inflight } from '../runtime/index.ts';
import { FORWARDED } from '../check/index.ts';
import type { Guard } from '../wire/index.ts';
import { Refused, isReplySubject } from '../wire/index.ts';
import type { Api, ReplyRoute } from './handlers.ts';
import { API_PREFIX, DEEP_OPS, NODE_OPS, TOPOLOGY_CHANGED, nodeSubject } from './topology.ts';

export { API_PREFIX, NODE_OPS, nodeSubject } from './topology.ts';
export type { NodeOp } from './topology.ts';
export const API_QUEUE = 'headroom';

/** The operation whose replies are sent together, once per turn (see NatsApi #send). */
const BATCH_OP = 'check.batch';

/** How often a node looks for a change of its topology to announce (a view change, a rule change). */
export const TOPOLOGY_POLL_MS = 250;

export class NatsApi {
  readonly #nc: NatsConnection;
  readonly #api: Api;
  readonly #guard: Guard;
  #subs: Subscription[] = [];
  readonly #inflight = new Inflight();
  #poll: ReturnType<typeof setInterval> | undefined;
  #announced = '';
  /** Replies waiting for the next flush: message, then its JSON, by pairs. */
  #outbox: Array<Msg | string> = [];

  constructor(nc: NatsConnection, api: Api, guard: Guard) {
    this.#nc = nc;
    this.#api = api;
    this.#guard = guard;
  }

  start(): void {
    for (const subject of [
      `${API_PREFIX}.*`,
      `${API_PREFIX}.*.*`,
      ...DEEP_OPS.map((op) => `${API_PREFIX}.${op}`),
    ]) {
      this.#subs.push(
        this.#nc.subscribe(subject, {
          queue: API_QUEUE,
          callback: (err, msg) => {
            if (!this.#accept(err, msg, subject)) return;
            const op = msg.subject.slice(API_PREFIX.length + 1);
            // The nodes' own change notices (no reply wanted) reach the queue group too.
            if (op === TOPOLOGY_CHANGED && !msg.reply) return;
            this.#inflight.track(this.#answer(msg, op));
          },
        }),
      );
    }
    for (const op of NODE_OPS) {
      const subject = nodeSubject(this.#api.nodeId, op);
      this.#subs.push(
        this.#nc.subscribe(subject, {
          callback: (err, msg) => {
            if (this.#accept(err, msg, subject)) this.#inflight.track(this.#answer(msg, op));
          },
        }),
      );
    }
    this.#announce();
    this.#poll = setInterval(() => this.#announce(), TOPOLOGY_POLL_MS);
    this.#poll.unref();
  }

  /** Whether a delivered message is a request to run; a subscription error or a bad reply subject is counted. */
  #accept(err: Error | null, msg: Msg, subject: string): boolean {
    if (err !== null) {
      // A subscription error (a permissions violation, say) carries no
      // request to answer: counted and logged, not dropped unseen.
      this.#guard.refuse(Refused.Subscription, `the API subscription on ${subject}: ${err.message}`);
      return false;
    }
    // nats-server does not check a requester's reply subject: a client
    // could have this node publish its reply onto an internal subject
    // (a refund, a Moleculer packet). Such requests are not run at all.
    const reply = msg.reply ?? '';
    if (reply !== '' && !isReplySubject(reply as unknown)) {
      this.#guard.refuse(
        Refused.ReplySubject,
        `a request on ${msg.subject} asked for its reply on ${reply.slice(0, 80)}`,
      );
      return false;
    }
    return true;
  }

  /** Publishes this node's topology when it changed since the last notice (and once at start). */
  #announce(): void {
    // Closed while stopping: the other nodes' notices and the clients' polls cover the change.
    if (this.#nc.isClosed()) return;
    const topology = this.#api.topology();
    if (topology.version === this.#announced) return;
    this.#announced = topology.version;
    try {
      this.#nc.publish(`${API_PREFIX}.${TOPOLOGY_CHANGED}`, JSON.stringify(topology));
    } catch (err) {
      // Past the server's max_payload (a huge rule list), say: clients still poll headroom.v1.topology.
      this.#guard.refuse(Refused.Subscription, `topology notice not published: ${(err as Error).message}`);
    }
  }

  async #answer(msg: Msg, op: string): Promise<void> {
    const carrier: Record<string, string> = {};
    const tp = msg.headers?.get('traceparent');
    if (tp) carrier['traceparent'] = tp;
    const ts = msg.headers?.get('tracestate');
    if (ts) carrier['tracestate'] = ts;
    const trace = extractContext(carrier);
    const route: ReplyRoute | undefined = msg.reply
      ? {
          replyTo: msg.reply,
          // The node the check went to is gone: answer from here, once.
          bounce: () => void this.#inflight.track(this.#respond(msg, this.#api.handle(op, msg.data, trace))),
        }
      : undefined;
    await this.#respond(msg, this.#api.handle(op, msg.data, trace, route), op === BATCH_OP);
  }

  /** Sends the reply; a batch's is queued for the turn's {@link #flush} with the other batches'. */
  async #respond(msg: Msg, reply: Promise<unknown>, batch = false): Promise<void> {
    const body = await reply;
    if (body === FORWARDED || !msg.reply) return;
    if (batch) this.#send(msg, JSON.stringify(body));
    else msg.respond(JSON.stringify(body));
  }

  /**
   * Queues a reply for the next {@link #flush}. Batch replies that become
   * ready in one turn of the event loop (the batches a client had in flight,
   * decided together) are published back to back, so nats.js writes them to
   * the socket in one write instead of one each (its flush runs on the first
   * publish's microtask, before the other replies' continuations). Single
   * checks are answered at once: their latency is the target there.
   */
  #send(msg: Msg, data: string): void {
    this.#outbox.push(msg, data);
    if (this.#outbox.length === 2) setImmediate(this.#flush);
  }

  readonly #flush = (): void => {
    const out = this.#outbox;
    this.#outbox = [];
    for (let i = 0; i < out.length; i += 2) {
      try {
        (out[i] as Msg).respond(out[i + 1] as string);
      } catch {
        // The connection closed meanwhile: the requester times out, as before the batching.
      }
    }
  };

  /** Stops taking requests (the queue group sends them to other nodes) and waits for those in flight. */
  async drain(): Promise<void> {
    if (this.#poll !== undefined) clearInterval(this.#poll);
    this.#poll = undefined;
    const subs = this.#subs;
    this.#subs = [];
    await Promise.all(subs.map((s) => s.drain()));
    await this.#inflight.idle();
    this.#flush();
  }
}
