/**
 * The public NATS request API: every node subscribes to `headroom.v1.>` in
 * one queue group, so any node answers any request. Replies are JSON.
 */
import type { Msg, NatsConnection, Subscription } from 'nats';
import { extractContext, Inflight } from '../runtime/index.ts';
import { FORWARDED } from '../check/index.ts';
import type { Guard } from '../wire/index.ts';
import { Refused, isReplySubject } from '../wire/index.ts';
import type { Api, ReplyRoute } from './handlers.ts';

export const API_PREFIX = 'headroom.v1';
export const API_QUEUE = 'headroom';

export class NatsApi {
  readonly #nc: NatsConnection;
  readonly #api: Api;
  readonly #guard: Guard;
  #sub: Subscription | undefined;
  readonly #inflight = new Inflight();

  constructor(nc: NatsConnection, api: Api, guard: Guard) {
    this.#nc = nc;
    this.#api = api;
    this.#guard = guard;
  }

  start(): void {
    this.#sub = this.#nc.subscribe(`${API_PREFIX}.>`, {
      queue: API_QUEUE,
      callback: (err, msg) => {
        if (err !== null) {
          // A subscription error (a permissions violation, say) carries no
          // request to answer: counted and logged, not dropped unseen.
          this.#guard.refuse(Refused.Subscription, `the API subscription on ${API_PREFIX}.>: ${err.message}`);
          return;
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
          return;
        }
        this.#inflight.track(this.#answer(msg));
      },
    });
  }

  async #answer(msg: Msg): Promise<void> {
    const op = msg.subject.slice(API_PREFIX.length + 1);
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
    await this.#respond(msg, this.#api.handle(op, msg.data, trace, route));
  }

  async #respond(msg: Msg, reply: Promise<unknown>): Promise<void> {
    const body = await reply;
    if (body !== FORWARDED && msg.reply) msg.respond(JSON.stringify(body));
  }

  /** Stops taking requests (the queue group sends them to other nodes) and waits for those in flight. */
  async drain(): Promise<void> {
    if (this.#sub !== undefined) {
      await this.#sub.drain();
      this.#sub = undefined;
    }
    await this.#inflight.idle();
  }
}
