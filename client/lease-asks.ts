/**
 * The lease asks of one turn of the event loop, queued per owner and sent
 * together (client/leases.ts asks, this sends): one message per owner after
 * the turn, `headroom.v1.node.<owner>.lease` for a single ask and
 * `lease.batch` for several (split at MAX_LEASE_BATCH asks and at
 * {@link LEASE_BATCH_BYTES}), the batch's results given back to each ask in
 * order, an ask's own error refusing that ask only. A sweep renews many
 * slices in one turn, and every message costs tens of microseconds of CPU
 * at each end on a loaded machine: the asks of a turn travel together.
 */
import { MAX_LEASE_BATCH, isPlainObject } from '../lib/index.ts';

/**
 * Most bytes of asks in one `lease.batch` (and of returns in one
 * `lease.return.batch`, lease-returns.ts): under the nodes' default
 * `--max-payload-bytes` (64 KiB) with room to spare (a renewal with its
 * report is about 165 bytes besides its params).
 */
export const LEASE_BATCH_BYTES = 48 * 1024;
/** An ask's bytes besides its params (client id, want, previous, report), at most. */
export const ASK_BYTES = 240;

/** How the queue sends: the client's request and subjects. */
export interface AskWire {
  /** Sends a request (JSON) and resolves the parsed reply; rejects when no node answered. */
  request: (subject: string, body: unknown, timeoutMs: number) => Promise<unknown>;
  /** Subject of `op` on node `node`, or of any node when undefined. */
  subject: (node: string | undefined, op: 'lease' | 'lease.batch') => string;
  timeoutMs: number;
}

/** An ask waiting for its turn's message to its owner. */
interface QueuedAsk {
  body: Record<string, unknown>;
  /** About how many bytes it takes in a batch. */
  bytes: number;
  resolve: (reply: unknown) => void;
  reject: (err: unknown) => void;
}

export class LeaseAskQueue {
  readonly #wire: AskWire;
  /** Asks waiting for the end of this turn, per owner (undefined: any node). */
  readonly #queued = new TurnQueue<string | undefined, QueuedAsk>((owner, asks) => {
    for (const part of batchParts(asks)) this.#sendPart(owner, part);
  });
  /** Messages sent (each carrying one ask or a batch of them). */
  messages = 0;

  constructor(wire: AskWire) {
    this.#wire = wire;
  }

  /**
   * Queues `body` for `owner` (undefined: any node); `bytes` about its size
   * in a batch. Resolves the owner's reply to it (a grant or an error
   * object), rejects when its message got no answer.
   */
  ask(owner: string | undefined, body: Record<string, unknown>, bytes: number): Promise<unknown> {
    return new Promise<unknown>((resolve, reject) =>
      this.#queued.add(owner, { body, bytes, resolve, reject }),
    );
  }

  #sendPart(owner: string | undefined, part: QueuedAsk[]): void {
    const { request, subject, timeoutMs } = this.#wire;
    this.messages++;
    if (part.length === 1) {
      const { body, resolve, reject } = part[0]!;
      request(subject(owner, 'lease'), body, timeoutMs).then(resolve, reject);
      return;
    }
    request(subject(owner, 'lease.batch'), { asks: part.map((a) => a.body) }, timeoutMs).then(
      (reply) => {
        const results = batchResults(reply, part.length);
        part.forEach((a, k) => {
          const r = results[k];
          // An ask's own error (its owner grants none now, say) refuses that ask only.
          if (isPlainObject(r) && r['error'] !== undefined) a.reject(r['error']);
          else a.resolve(r);
        });
      },
      (err: unknown) => {
        for (const a of part) a.reject(err);
      },
    );
  }
}

/**
 * The results of a batch reply (`{"results": [...]}`), in order; undefined
 * for each of the `n` items when the reply does not hold exactly `n`.
 */
export function batchResults(reply: unknown, n: number): readonly unknown[] {
  const results = isPlainObject(reply) ? reply['results'] : undefined;
  return Array.isArray(results) && results.length === n ? results : new Array<unknown>(n);
}

/**
 * `list` in order, cut into parts of at most MAX_LEASE_BATCH items and
 * {@link LEASE_BATCH_BYTES} (by each item's `bytes`; an item past the bytes
 * alone is a part of its own): the messages a turn's asks or returns to one
 * node go in.
 */
export function batchParts<T extends { bytes: number }>(list: readonly T[]): T[][] {
  const parts: T[][] = [];
  for (let i = 0; i < list.length;) {
    let end = i + 1;
    let bytes = list[i]!.bytes;
    while (end < list.length && end - i < MAX_LEASE_BATCH && bytes + list[end]!.bytes <= LEASE_BATCH_BYTES)
      bytes += list[end++]!.bytes;
    parts.push(list.slice(i, end));
    i = end;
  }
  return parts;
}

/**
 * Items queued per key (a node) until the end of this turn of the event
 * loop, then handed to `send` a key at a time with all of its items: what
 * one turn asks of or gives back to a node goes in as few messages as fit.
 */
export class TurnQueue<K, T> {
  #queued = new Map<K, T[]>();
  #armed = false;
  readonly #send: (key: K, items: T[]) => void;

  constructor(send: (key: K, items: T[]) => void) {
    this.#send = send;
  }

  add(key: K, item: T): void {
    const queued = this.#queued.get(key);
    if (queued === undefined) this.#queued.set(key, [item]);
    else queued.push(item);
    if (!this.#armed) {
      this.#armed = true;
      // After this turn's other items (a sweep renews or gives back many slices in one turn).
      setImmediate(this.flush);
    }
  }

  /** Hands over what is queued now (the turn's end does it too). */
  readonly flush = (): void => {
    this.#armed = false;
    const queued = this.#queued;
    this.#queued = new Map();
    for (const [key, items] of queued) this.#send(key, items);
  };
}
