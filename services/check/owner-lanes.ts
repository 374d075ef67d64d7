/**
 * The gateway's calls to token owners, one lane per owner. Calls to an owner
 * are pipelined with at most {@link MAX_INFLIGHT} in flight; whatever queues
 * meanwhile travels together in the next message. At low load a check goes
 * out at once (next turn of the event loop); under load batches grow by
 * themselves, turning N inter-node round trips (and N socket writes each
 * way) into one. A lane exists only while it has calls queued or in flight.
 */
import type { Span } from '@opentelemetry/api';
import { recordFailure } from '../runtime/index.ts';
import type { TakeDecision, TakeItem, TakeMeta, TakePart, TakeParams } from '../wire/index.ts';

/** Sends one owner a batch of parts (this node's own actors, or the owner link); one answer per part. */
export type SendTakes = (
  owner: string,
  params: TakeParams,
  meta: TakeMeta,
  routedWith: object | undefined,
) => Promise<TakeDecision[][]>;

interface Waiter {
  resolve: (decisions: TakeDecision[]) => void;
  reject: (err: unknown) => void;
  span: Span | undefined;
}

/** Parts waiting for the next flush to one owner. */
interface Batch {
  /**
   * The placement every part was routed to this owner with (see
   * {@link OwnerLanes.enqueue}); undefined when a part gave none or parts
   * gave different ones.
   */
  routedWith: object | undefined;
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
export const MAX_INFLIGHT = 2;

export class OwnerLanes {
  readonly #send: SendTakes;
  readonly #lanes = new Map<string, Lane>();

  constructor(send: SendTakes) {
    this.#send = send;
  }

  /** Owners with calls queued or in flight. */
  get size(): number {
    return this.#lanes.size;
  }

  /**
   * Queues one check's items for `owner`; resolves with their decisions.
   * `trace` is the W3C trace context the owner's spans continue; `span`, if
   * any, is ended (with the failure recorded) when the answer comes.
   * `routedWith` is the placement the caller routed the items to `owner`
   * with; the batch passes it on to {@link SendTakes} when every part in it
   * gave the same one.
   */
  enqueue(
    owner: string,
    items: TakeItem[],
    trace: Record<string, string>,
    span: Span | undefined,
    routedWith?: object,
  ): Promise<TakeDecision[]> {
    return new Promise<TakeDecision[]>((resolve, reject) => {
      let lane = this.#lanes.get(owner);
      if (lane === undefined) {
        lane = { queued: emptyBatch(), inflight: 0, scheduled: false };
        this.#lanes.set(owner, lane);
      }
      const q = lane.queued;
      if (q.parts.length === 0) q.routedWith = routedWith;
      else if (q.routedWith !== routedWith) q.routedWith = undefined;
      lane.queued.parts.push({ items });
      lane.queued.traces.push(trace);
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
    lane.queued = emptyBatch();
    lane.inflight++;
    const params: TakeParams = { parts: batch.parts };
    const meta: TakeMeta = { traces: batch.traces };
    this.#send(owner, params, meta, batch.routedWith)
      .then(
        (results) =>
          batch.waiters.forEach((w, i) => {
            w.span?.end();
            w.resolve(results[i]!);
          }),
        (err: unknown) =>
          batch.waiters.forEach((w) => {
            if (w.span !== undefined) recordFailure(w.span, err);
            w.span?.end();
            w.reject(err);
          }),
      )
      .finally(() => {
        lane.inflight--;
        if (lane.inflight === 0 && lane.queued.parts.length === 0) this.#lanes.delete(owner);
        else this.#schedule(owner, lane);
      });
  }
}

function emptyBatch(): Batch {
  return { routedWith: undefined, parts: [], traces: [], waiters: [] };
}
