/**
 * Where the check path counts what it does, for the node's metrics
 * (services/metrics). The check path only calls these; what is kept and how
 * it is exported is the sink's business. The defaults count nothing, so a
 * Gateway or OwnerLink built without a sink (tests, embedded apps) pays one
 * empty call.
 */
import type { CheckReply } from '../../lib/index.ts';

/** The gateway's side: every request decided on this node, and how long each call took. */
export interface CheckMetrics {
  /** A mark to time a call from (a monotonic reading). */
  start(): number;
  /** The replies of one call (check, batch or forwarded check) started at `t0`. */
  decided(replies: readonly CheckReply[], t0: number): void;
  /** One request decided by a call started at `t0` (no array for the single check). */
  decidedOne(reply: CheckReply, t0: number): void;
  /** A call of `requests` requests, started at `t0`, that failed: each counts as an `error` decision. */
  failed(requests: number, t0: number): void;
}

/** Owner-link messages, by kind. */
export type LinkOp = 'take' | 'refund' | 'forward';
/** `out`: this node sent it; `in`: this node received it on its own subjects. */
export type LinkDirection = 'in' | 'out';

/** The owner link's side: every take, refund and forward message sent and received. */
export interface LinkMetrics {
  message(op: LinkOp, direction: LinkDirection): void;
}

/** Counts nothing. */
export const noCheckMetrics: CheckMetrics = {
  start: () => 0,
  decided: () => {},
  decidedOne: () => {},
  failed: () => {},
};

/** Counts nothing. */
export const noLinkMetrics: LinkMetrics = { message: () => {} };
