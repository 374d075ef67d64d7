/**
 * The client's plain checks on their way (headroom-client.ts): queued per
 * destination for the turn of the event loop, then sent as one `check` or
 * `check.batch` message per node (at most MAX_BATCH checks each), and their
 * replies handed back check by check. A check whose node is gone ("no
 * responders", at once), slow (`ownerTimeoutMs`) or stopping (a retryable
 * error) goes again through the queue group (`headroom.v1.check`) in the
 * time it has left of `timeoutMs`.
 *
 * A batch asks for its replies in columns (batch-columns.ts), unless a node
 * has answered that it does not know the `columns` field (a node older than
 * the client): then that batch goes again as before, and so do all after it.
 * A node rejects an unknown field before it decides any check, so nothing
 * is counted twice.
 */
import { ErrorCode as NatsErrorCode } from 'nats';
import type { Msg, NatsConnection } from 'nats';
import { ErrorCode, MAX_BATCH } from '../lib/index.ts';
import type { CheckReply, CheckRequest, HeadroomError } from '../lib/index.ts';
import { API_PREFIX, nodeSubject } from '../services/api/topology.ts';
import { batchReplies } from './batch-columns.ts';
import type { Pending } from './pending.ts';
import { badReply, errorOf, isCheckReply, natsError, timedOut } from './reply-errors.ts';
import type { Destination } from './topology.ts';

/** How the lanes' messages went (part of the client's ClientStats). */
export interface LaneStats {
  /** Messages sent to a node's own subjects. */
  routed: number;
  /** Messages sent through the queue group (no owner, stale topology, or a fallback). */
  anyNode: number;
  /** Messages sent again through the queue group after their node was gone or slow. */
  fallbacks: number;
  /** Checks answered. */
  answered: number;
}

/** What the lanes need of their client. */
export interface LaneDeps {
  nc: NatsConnection;
  /** Overall time a check may take (ms), and the part its owner has before the fallback. */
  timeoutMs: number;
  ownerTimeoutMs: number;
  /** The node that owns `req`, or undefined for any node (no fresh topology, or no rule matches). */
  destination: (req: CheckRequest) => Destination;
  /** `node` answered "no responders": it is gone. */
  gone: (node: string) => void;
}

const now = (): number => performance.now();

export class CheckLanes {
  readonly stats: LaneStats = { routed: 0, anyNode: 0, fallbacks: 0, answered: 0 };
  readonly #d: LaneDeps;
  /** Checks queued this turn, per destination ('' = any node). */
  #lanes = new Map<string, Pending[]>();
  #flushing = false;
  /** Requests on the wire (a fallback replaces its first try's). */
  readonly #inflight = new Set<Promise<void>>();
  /** Whether batches ask for columns: until a node says it does not know the field. */
  #columns = true;

  constructor(deps: LaneDeps) {
    this.#d = deps;
  }

  /** Queues a check for this turn's message to its node. */
  enqueue(p: Pending): void {
    this.enqueueTo(p, this.#d.destination(p.req));
  }

  /**
   * Queues a check for `dest` (its node by {@link LaneDeps.destination},
   * asked by the caller: a batch asks whether its topology is fresh once for
   * all its checks).
   */
  enqueueTo(p: Pending, dest: Destination): void {
    const key = dest ?? '';
    const lane = this.#lanes.get(key);
    if (lane === undefined) this.#lanes.set(key, [p]);
    else lane.push(p);
    if (!this.#flushing) {
      this.#flushing = true;
      // After this turn's other checks (and the replies that arrived with it) have queued.
      setImmediate(() => this.flush());
    }
  }

  /** Sends what is queued now. */
  flush(): void {
    this.#flushing = false;
    const lanes = this.#lanes;
    this.#lanes = new Map();
    for (const [key, list] of lanes) {
      for (let i = 0; i < list.length; i += MAX_BATCH) {
        this.#send(key === '' ? undefined : key, list.slice(i, i + MAX_BATCH));
      }
    }
  }

  /** Sends what is queued and waits until every check on the wire is answered or rejected. */
  async settle(): Promise<void> {
    this.flush();
    // A fallback adds to the set while it is awaited: wait until nothing is left.
    while (this.#inflight.size > 0) await Promise.allSettled([...this.#inflight]);
  }

  /** Sends `list` to `dest` (its own subjects) or any node; answers or rejects every check in it. */
  #send(dest: Destination, list: Pending[]): void {
    const one = list.length === 1;
    const op = one ? 'check' : 'check.batch';
    const subject = dest === undefined ? `${API_PREFIX}.${op}` : nodeSubject(dest, op);
    const columns = !one && this.#columns;
    const requests = one ? undefined : list.map((p) => p.req);
    const payload = one
      ? JSON.stringify(list[0]!.req)
      : JSON.stringify(columns ? { requests, columns } : { requests });
    let oldest = list[0]!.atMs;
    for (const p of list) if (p.atMs < oldest) oldest = p.atMs;
    const left = this.#d.timeoutMs - (now() - oldest);
    if (left <= 0) {
      fail(list, timedOut(this.#d.timeoutMs));
      return;
    }
    const timeout = dest === undefined ? left : Math.min(left, this.#d.ownerTimeoutMs);
    if (dest === undefined) this.stats.anyNode++;
    else this.stats.routed++;
    let sent: Promise<Msg>;
    try {
      sent = this.#d.nc.request(subject, payload, { timeout });
    } catch (err) {
      // The connection is closed or draining: nothing can be sent any more.
      fail(list, natsError(err as Error));
      return;
    }
    const done = sent.then(
      (msg) => this.#answered(dest, subject, one, columns, list, msg),
      (err: { code?: string; message?: string }) => {
        if (dest === undefined) {
          fail(list, err.code === NatsErrorCode.Timeout ? timedOut(this.#d.timeoutMs) : natsError(err));
          return;
        }
        // The node is gone: route around it (the client learns the new view).
        if (err.code === NatsErrorCode.NoResponders) this.#d.gone(dest);
        this.#fallback(list);
      },
    );
    this.#inflight.add(done);
    void done.finally(() => this.#inflight.delete(done));
  }

  /** Hands a node's reply to the checks of `list`, or sends them again / fails them on an error. */
  #answered(
    dest: Destination,
    subject: string,
    one: boolean,
    columns: boolean,
    list: Pending[],
    msg: Msg,
  ): void {
    let body: unknown;
    try {
      body = JSON.parse(msg.string());
    } catch {
      body = msg.string();
    }
    const err = errorOf(body);
    if (err !== undefined) {
      // Every batch in flight that asked for columns gets this answer from such a node.
      if (columns && refusesColumns(err)) {
        this.#columns = false;
        this.#send(dest, list);
        return;
      }
      // A node that is stopping (or cut off) says so: another node may answer.
      if (dest !== undefined && err.retryable) this.#fallback(list);
      else fail(list, err);
      return;
    }
    const replies = one ? [body] : batchReplies(body, list.length);
    if (replies === undefined || !replies.every(isCheckReply)) {
      fail(list, badReply(subject, body));
      return;
    }
    this.stats.answered += list.length;
    for (let i = 0; i < list.length; i++) list[i]!.resolve(replies[i] as CheckReply);
  }

  /** Sends checks whose node was gone or slow through the queue group, in the time they have left. */
  #fallback(list: Pending[]): void {
    this.stats.fallbacks++;
    this.#send(undefined, list);
  }
}

/** A node's answer that it does not know the `columns` field of a batch (it predates them). */
function refusesColumns(err: HeadroomError): boolean {
  return err.code === ErrorCode.UnknownField && err.field === 'columns';
}

function fail(list: Pending[], err: Error): void {
  for (const p of list) p.reject(err);
}
