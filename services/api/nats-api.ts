/**
 * The public NATS request API: every node subscribes to `headroom.v1.>` in
 * one queue group, so any node answers any request. Replies are JSON.
 */
import type { Msg, NatsConnection, Subscription } from 'nats';
import { extractContext } from '../telemetry.ts';
import type { Api } from './handlers.ts';

export const API_PREFIX = 'headroom.v1';
export const API_QUEUE = 'headroom';

export class NatsApi {
  readonly #nc: NatsConnection;
  readonly #api: Api;
  #sub: Subscription | undefined;
  #inflight = new Set<Promise<void>>();

  constructor(nc: NatsConnection, api: Api) {
    this.#nc = nc;
    this.#api = api;
  }

  start(): void {
    this.#sub = this.#nc.subscribe(`${API_PREFIX}.>`, {
      queue: API_QUEUE,
      callback: (err, msg) => {
        if (err !== null) return;
        const p = this.#answer(msg);
        this.#inflight.add(p);
        void p.finally(() => this.#inflight.delete(p));
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
    const reply = await this.#api.handle(op, msg.data, extractContext(carrier));
    if (msg.reply) msg.respond(JSON.stringify(reply));
  }

  /** Stops taking requests (the queue group sends them to other nodes) and waits for those in flight. */
  async drain(): Promise<void> {
    if (this.#sub !== undefined) {
      await this.#sub.drain();
      this.#sub = undefined;
    }
    await Promise.allSettled([...this.#inflight]);
  }
}
