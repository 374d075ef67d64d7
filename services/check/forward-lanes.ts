/**
 * The sending side of forwarded checks (owner-link.ts): a gateway hands a
 * check whose tokens all live on one other node to that node, which answers
 * the client itself. Forwards queued for one owner in one turn of the event
 * loop travel in one message; the owner acknowledges the batch once it has
 * answered every client, and anything else (a refusal, no responders, a
 * timeout) bounces each forward back to its gateway.
 */
import { ErrorCode, StateError, toHeadroomError } from '../../lib/index.ts';
import type { Context as OtelContext } from '@opentelemetry/api';
import { Refused, decodeLinkJson, parseLinkReply } from '../wire/index.ts';
import type { ForwardWire, Guard, TakeItem } from '../wire/index.ts';
import type { ReplyHandlers } from './link-requests.ts';

/**
 * A client's check handed to the node that owns its tokens, which replies to
 * `replyTo`: the take items the sending gateway derived (it parsed the
 * request and matched the rules), so the owner decides them as a take.
 */
export interface Forward {
  replyTo: string;
  /** The W3C trace context of the sender's route span. */
  trace: Record<string, string>;
  items: TakeItem[];
}

/** Answers a forwarded check from its items (a Gateway); never throws (errors become the `{error}` reply). */
export type ForwardAnswerer = (items: TakeItem[], trace: OtelContext) => Promise<unknown>;

/** Publishes a batch of forwards to `owner`; the reply (or the failure) settles `on`. */
export type SendForwards = (owner: string, wire: ForwardWire, timeoutMs: number, on: ReplyHandlers) => void;

/** Forwards queued for one owner, sent together on the next turn of the event loop. */
interface ForwardLane {
  forwards: Forward[];
  bounces: Array<(err: StateError) => void>;
  /** How long the owner has to answer the batch's clients and acknowledge it. */
  timeoutMs: number;
}

export class ForwardLanes {
  readonly #send: SendForwards;
  readonly #guard: Guard;
  readonly #lanes = new Map<string, ForwardLane>();

  constructor(send: SendForwards, guard: Guard) {
    this.#send = send;
    this.#guard = guard;
  }

  /**
   * Queues a check for `owner`; `bounce` runs if the owner is gone or has
   * not answered the batch within `timeoutMs` (the first forward's sets it).
   */
  forward(owner: string, fwd: Forward, bounce: (err: StateError) => void, timeoutMs: number): void {
    let lane = this.#lanes.get(owner);
    if (lane === undefined) {
      lane = { forwards: [], bounces: [], timeoutMs };
      this.#lanes.set(owner, lane);
      setImmediate(() => this.#flush(owner));
    }
    lane.forwards.push(fwd);
    lane.bounces.push(bounce);
  }

  #flush(owner: string): void {
    const lane = this.#lanes.get(owner);
    this.#lanes.delete(owner);
    if (lane === undefined) return;
    const wire: ForwardWire = lane.forwards.map((f) => [
      f.replyTo,
      f.trace['traceparent'] ?? '',
      f.trace['tracestate'] ?? '',
      f.items,
    ]);
    const bounce = (err: StateError): void => lane.bounces.forEach((b) => b(err));
    this.#send(owner, wire, lane.timeoutMs, {
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
          this.#guard.refuse(Refused.Reply, `forward reply from ${owner}: ${why}`);
        }
        bounce(
          new StateError(ErrorCode.Unavailable, `token owner ${owner} refused the forwarded checks: ${why}`),
        );
      },
      reject: bounce,
    });
  }
}
