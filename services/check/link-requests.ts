/**
 * The owner link's requests and their replies (like nats.js's request
 * multiplexer): replies come back on one subscription (`<inbox>.<seq>`),
 * matched by sequence number, with one sweep timer for the deadlines.
 * nats.js's own request() allocates a timer and two error objects (stack
 * traces) per call, which cost more than the check it carries. A request
 * settles once: with the reply's bytes, or with an unreachable error (no
 * responders, timed out, publish failed, the link closed). Deadlines are
 * read and swept on the injected Clock; the sweep runs only while requests
 * are pending.
 */
import { randomUUID } from 'node:crypto';
import type { NatsConnection, Subscription } from 'nats';
import { ErrorCode, StateError } from '../../lib/index.ts';
import type { Clock, TimerHandle } from '../../lib/index.ts';

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

/** How often deadlines are checked: a timeout fires up to this late (and 1 ms, the Clock's grain). */
export const SWEEP_MS = 50;

/** Told of an error the reply subscription reported (its replies are lost: their requests time out). */
export type SubscriptionErrors = (err: Error, subject: string) => void;

export class LinkRequests {
  readonly #nc: NatsConnection;
  readonly #clock: Clock;
  readonly #onError: SubscriptionErrors;
  readonly #inbox: string;
  readonly #pending = new Map<number, Pending>();
  #seq = 0;
  #replies: Subscription | undefined;
  #sweep: TimerHandle | undefined;

  constructor(nc: NatsConnection, clock: Clock, onError: SubscriptionErrors) {
    this.#nc = nc;
    this.#clock = clock;
    this.#onError = onError;
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
    this.#pending.set(seq, { owner, deadline: this.#clock.now() + timeoutMs, ...on });
    this.#sweep ??= this.#clock.setTimeout(() => this.#expire(), SWEEP_MS);
    try {
      this.#nc.publish(subject, JSON.stringify(body), { reply: `${this.#inbox}.${seq}` });
    } catch (err) {
      this.#pending.delete(seq);
      on.reject(unreachable(owner, (err as Error).message, err));
    }
  }

  /** Subscribes to the reply inbox, once. */
  #listen(): void {
    if (this.#replies !== undefined) return;
    const subject = `${this.#inbox}.*`;
    this.#replies = this.#nc.subscribe(subject, {
      callback: (err, msg) => {
        if (err !== null) {
          this.#onError(err, subject);
          return;
        }
        const seq = Number(msg.subject.slice(this.#inbox.length + 1));
        const p = this.#pending.get(seq);
        if (p === undefined) return; // timed out already
        this.#pending.delete(seq);
        // NATS answers a request to a subject nobody serves with status 503.
        if (msg.headers?.code === 503) p.reject(new OwnerGone(p.owner));
        else p.resolve(msg.data);
      },
    });
  }

  /**
   * Rejects the requests past their deadline, and sweeps again while any
   * are pending. A deadline counts as past only once the (whole-ms) clock
   * is beyond it, so no request times out before its `timeoutMs`.
   */
  #expire(): void {
    this.#sweep = undefined;
    const now = this.#clock.now();
    for (const [seq, p] of this.#pending) {
      if (p.deadline >= now) continue;
      this.#pending.delete(seq);
      p.reject(unreachable(p.owner, 'timed out', undefined, true));
    }
    if (this.#pending.size > 0) this.#sweep = this.#clock.setTimeout(() => this.#expire(), SWEEP_MS);
  }

  /** Stops the sweep, rejects what is pending ("the link closed") and leaves the inbox. */
  close(): void {
    if (this.#sweep !== undefined) this.#clock.clearTimeout(this.#sweep);
    this.#sweep = undefined;
    for (const p of this.#pending.values()) p.reject(unreachable(p.owner, 'the link closed'));
    this.#pending.clear();
    this.#replies?.unsubscribe();
    this.#replies = undefined;
  }
}

/** How long an owner with no subscriber is routed around unless the node says (its heartbeats' dead-after time). */
export const DEFAULT_SUSPECT_MS = 1000;

/** While this node is cut off or just back, an owner with no subscriber is asked again this much later. */
export const BLIND_RETRY_MS = 150;

/**
 * NATS found no subscriber on the owner's subject: its connection is gone
 * (the process died, or it is cut off from NATS), so it is granting nothing
 * over NATS now. The one failure after which a gateway routes around a node
 * at once; a timeout only fails the request (a slow node is still granting).
 */
export class OwnerGone extends StateError {
  readonly owner: string;
  constructor(owner: string) {
    super(ErrorCode.Unavailable, `token owner ${owner} did not answer: no responders (the node is gone)`);
    this.owner = owner;
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
