/**
 * The lease returns of one turn of the event loop, queued per node and sent
 * together (client/leases.ts gives slices back, this sends): one message
 * per node, `headroom.v1.node.<node>.lease.return` for a single return and
 * `lease.return.batch` for several (split as the asks are, lease-asks.ts
 * batchParts), each return's result read from the batch's in order. A client closing with 1,000 slices, or one whose tokens churn
 * (it gives back about as many slices as it asks for), sends a message per
 * node and turn instead of one per slice.
 *
 * A node that does not know the batch (an older one: "no responders" on
 * its own subject, or an unknown-operation error) loses no return: the part
 * goes again as single returns, the first alone (it tells a gone node, whose
 * returns are lost as a single one's are, from an older one), and that node
 * gets single returns for {@link SINGLES_MS}.
 */
import { ErrorCode, isPlainObject } from '../lib/index.ts';
import { TurnQueue, batchParts, batchResults } from './lease-asks.ts';

/**
 * A return's bytes besides its node and token, at most: the keys, the slice
 * id, the unused units and a report with its largest numbers.
 */
export const RETURN_BYTES = 170;
/** How long a node that did not know `lease.return.batch` gets single returns before it is tried again. */
export const SINGLES_MS = 60_000;
/** The code nats.js gives a request no subscriber received. */
const NO_RESPONDERS = '503';
/** The code nats.js gives a request not answered within its timeout. */
const TIMED_OUT = 'TIMEOUT';

/** How the queue sends: the client's request and subjects. */
export interface ReturnWire {
  /** Sends a request (JSON) and resolves the parsed reply; rejects when no node answered or with the reply's error. */
  request: (subject: string, body: unknown, timeoutMs: number) => Promise<unknown>;
  /** Subject of `op` on node `node`. */
  subject: (node: string, op: 'lease.return' | 'lease.return.batch') => string;
  timeoutMs: number;
  /** The clock (ms). */
  now: () => number;
}

/** A return waiting for its turn's message to its node. */
interface QueuedReturn {
  body: Record<string, unknown>;
  /** About how many bytes it takes in a batch. */
  bytes: number;
  /** Settles with the units the node put back in the bucket (0 when the return was lost). */
  done: (returned: number) => void;
}

export class LeaseReturnQueue {
  readonly #wire: ReturnWire;
  /** Returns waiting for the end of this turn, per node. */
  readonly #queued = new TurnQueue<string, QueuedReturn>((node, rets) => {
    const until = this.#singles.get(node);
    if (until !== undefined && this.#wire.now() < until) this.#singly(node, rets);
    else for (const part of batchParts(rets)) this.#sendPart(node, part);
  });
  /** Nodes that did not know the batch, until when they get single returns. */
  readonly #singles = new Map<string, number>();
  /** Messages sent (each carrying one return or a batch of them). */
  messages = 0;

  constructor(wire: ReturnWire) {
    this.#wire = wire;
  }

  /**
   * Queues the return `body` of a slice `node` granted; resolves the units
   * it put back in the bucket, 0 when the return was lost (the node is
   * gone, refused it, or did not answer: its units stay taken until the
   * slice expires there, stricter, never looser). Never rejects.
   */
  giveBack(node: string, body: Record<string, unknown>): Promise<number> {
    const bytes = RETURN_BYTES + Buffer.byteLength(JSON.stringify(node)) + tokenBytes(body['token']);
    return new Promise<number>((done) => this.#queued.add(node, { body, bytes, done }));
  }

  /** Sends the returns queued so far, per node, in parts of at most MAX_LEASE_BATCH returns and LEASE_BATCH_BYTES. */
  flush(): void {
    this.#queued.flush();
  }

  #sendPart(node: string, part: QueuedReturn[]): void {
    if (part.length === 1) {
      this.#single(node, part[0]!);
      return;
    }
    const { request, subject, timeoutMs } = this.#wire;
    this.messages++;
    request(subject(node, 'lease.return.batch'), { returns: part.map((r) => r.body) }, timeoutMs).then(
      (reply) => {
        const results = batchResults(reply, part.length);
        part.forEach((r, k) => {
          // A return's own error (a slice the node no longer knows, say) loses that return only.
          r.done(returnedOf(results[k]));
        });
      },
      (err: unknown) => {
        if (!unknownOp(err)) {
          for (const r of part) r.done(0);
          return;
        }
        // An older node (or a gone one): the first alone tells which.
        this.#singles.set(node, this.#wire.now() + SINGLES_MS);
        const [first, ...rest] = part;
        this.#single(node, first!, (answered) => {
          if (answered) this.#singly(node, rest);
          else for (const r of rest) r.done(0);
        });
      },
    );
  }

  /** Each of `rets` as its own `lease.return`. */
  #singly(node: string, rets: readonly QueuedReturn[]): void {
    for (const r of rets) this.#single(node, r);
  }

  /** `r` as a `lease.return`; `after` learns whether the node answered it (any reply, an error one too). */
  #single(node: string, r: QueuedReturn, after?: (answered: boolean) => void): void {
    const { request, subject, timeoutMs } = this.#wire;
    this.messages++;
    request(subject(node, 'lease.return'), r.body, timeoutMs).then(
      (reply) => {
        r.done(returnedOf(reply));
        after?.(true);
      },
      (err: unknown) => {
        r.done(0);
        after?.(!isCode(err, NO_RESPONDERS) && !isCode(err, TIMED_OUT));
      },
    );
  }
}

/** The units a `lease.return` reply says went back; 0 for an error or anything else. */
function returnedOf(reply: unknown): number {
  return isPlainObject(reply) && typeof reply['returned'] === 'number' ? reply['returned'] : 0;
}

/** A token's bytes as JSON (it may need escapes). */
function tokenBytes(token: unknown): number {
  return typeof token === 'string' ? Buffer.byteLength(JSON.stringify(token)) : 2;
}

function isCode(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === code;
}

/**
 * Whether a batch's failure says its node does not serve the batch: "no
 * responders" on a node's own subject (nothing subscribes to an operation
 * an older node does not know, nor to a gone node's), or a node's
 * unknown-operation error (`HEADROOM_ERR_NOT_FOUND` on `subject`).
 */
function unknownOp(err: unknown): boolean {
  if (isCode(err, NO_RESPONDERS)) return true;
  return isCode(err, ErrorCode.NotFound) && (err as { field?: unknown }).field === 'subject';
}
