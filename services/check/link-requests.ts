/**
 * The owner link's requests and their replies (like nats.js's request
 * multiplexer): replies come back on one subscription (`<inbox>.<seq>`),
 * matched by sequence number, with one sweep timer for the deadlines.
 * nats.js's own request() allocates a timer and two error objects (stack
 * traces) per call, which cost more than the check it carries. A request
 * settles once: with the reply's bytes, or with an unreachable error (no
 * responders, timed out, publish failed, the link closed).
 */
import { randomUUID } from 'node:crypto';
import type { NatsConnection, Subscription } from 'nats';
import { ErrorCode, StateError } from '../../lib/index.ts';

/** How a request settles. */
export interface ReplyHandlers {
  resolve: (data: Uint8Array) => void;
  reject: (err: StateError) => void;
}

/** A request waiting for its owner's reply. */
interface Pending extends ReplyHandlers {
  owner: string;
  deadline: number;
}

/** How often deadlines are checked: a timeout fires up to this late. */
export const SWEEP_MS = 50;

export class LinkRequests {
  readonly #nc: NatsConnection;
  readonly #inbox: string;
  readonly #pending = new Map<number, Pending>();
  #seq = 0;
  #replies: Subscription | undefined;
  #sweep: NodeJS.Timeout | undefined;

  constructor(nc: NatsConnection) {
    this.#nc = nc;
    this.#inbox = `_HEADROOM.${randomUUID().replaceAll('-', '')}`;
  }

  /** Requests waiting for a reply. */
  get pending(): number {
    return this.#pending.size;
  }

  /**
   * Publishes `body` (as JSON) to `subject`, `owner`'s; the reply (or the
   * failure) settles `on`, within `timeoutMs` (up to {@link SWEEP_MS} late).
   */
  send(owner: string, subject: string, body: unknown, timeoutMs: number, on: ReplyHandlers): void {
    this.#listen();
    const seq = ++this.#seq;
    this.#pending.set(seq, { owner, deadline: performance.now() + timeoutMs, ...on });
    try {
      this.#nc.publish(subject, JSON.stringify(body), { reply: `${this.#inbox}.${seq}` });
    } catch (err) {
      this.#pending.delete(seq);
      on.reject(unreachable(owner, (err as Error).message, err));
    }
  }

  /** Subscribes to the reply inbox and starts the deadline sweep, once. */
  #listen(): void {
    if (this.#replies !== undefined) return;
    this.#replies = this.#nc.subscribe(`${this.#inbox}.*`, {
      callback: (err, msg) => {
        if (err !== null) return;
        const seq = Number(msg.subject.slice(this.#inbox.length + 1));
        const p = this.#pending.get(seq);
        if (p === undefined) return; // timed out already
        this.#pending.delete(seq);
        // NATS answers a request to a subject nobody serves with status 503.
        if (msg.headers?.code === 503) p.reject(unreachable(p.owner, 'no responders (the node is gone)'));
        else p.resolve(msg.data);
      },
    });
    this.#sweep = setInterval(() => {
      const now = performance.now();
      for (const [seq, p] of this.#pending) {
        if (p.deadline > now) continue;
        this.#pending.delete(seq);
        p.reject(unreachable(p.owner, 'timed out', undefined, true));
      }
    }, SWEEP_MS);
    this.#sweep.unref();
  }

  /** Stops the sweep, rejects what is pending ("the link closed") and leaves the inbox. */
  close(): void {
    clearInterval(this.#sweep);
    for (const p of this.#pending.values()) p.reject(unreachable(p.owner, 'the link closed'));
    this.#pending.clear();
    this.#replies?.unsubscribe();
    this.#replies = undefined;
  }
}

/** A failure to reach an owner: timeout, no responders, connection closed. */
function unreachable(owner: string, why: string, cause?: unknown, timeout = false): StateError {
  return new StateError(
    timeout ? ErrorCode.Timeout : ErrorCode.Unavailable,
    `token owner ${owner} did not answer: ${why}`,
    cause === undefined ? {} : { cause },
  );
}
