/**
 * What a node refused from inside the cluster: forged or stale refunds,
 * malformed link messages and replies, and Moleculer calls whose caller or
 * params did not check out. Each is counted (the `throttle.actors` action
 * reports the counters, so the REPL and status see them) and logged at most
 * once per {@link LOG_EVERY_MS} per kind, with the number left unsaid, so a
 * flood of bad messages cannot flood the log too.
 */
import type { ServiceBroker } from 'moleculer';
import type { Clock } from '../../lib/index.ts';

/** The counters, by name in the stats. */
export const Refused = {
  /** Refunds that named no take this owner issued (actors/take-ledger.ts). */
  Refund: 'refundsRejected',
  /** Take, refund and forward messages that failed validation. */
  Message: 'badMessages',
  /** Replies on this node's link inbox that failed validation. */
  Reply: 'badReplies',
  /** Moleculer calls refused (bad params, or a caller acting for another node). */
  Call: 'callsRefused',
  /** Public API requests whose reply subject was one of the cluster's own (left unanswered). */
  ReplySubject: 'replySubjectsRefused',
  /** Errors a NATS subscription reported (a permissions violation, say): its messages were not delivered. */
  Subscription: 'subscriptionErrors',
} as const;
export type Refused = (typeof Refused)[keyof typeof Refused];

export type GuardStats = Record<Refused, number>;

/** Where a Guard writes (a Moleculer logger). */
export interface GuardLog {
  warn(message: string): void;
}

/** Every counter at zero (a new kind needs no edit here). */
export function emptyGuardStats(): GuardStats {
  return Object.fromEntries(Object.values(Refused).map((k) => [k, 0])) as GuardStats;
}

/** Least time between two log lines of one kind. */
export const LOG_EVERY_MS = 10_000;

export class Guard {
  readonly #log: GuardLog;
  readonly #clock: Clock;
  readonly #counts: GuardStats = emptyGuardStats();
  /** Per kind: when it was last logged, and how many went unlogged since. */
  readonly #logged = new Map<Refused, { atMs: number; quiet: number }>();

  constructor(log: GuardLog, clock: Clock) {
    this.#log = log;
    this.#clock = clock;
  }

  /** Counts `n` refusals of `kind`; logs `why` unless this kind was logged in the last 10 s. */
  refuse(kind: Refused, why: string, n = 1): void {
    this.#counts[kind] += n;
    const now = this.#clock.now();
    const last = this.#logged.get(kind);
    if (last !== undefined && now - last.atMs < LOG_EVERY_MS) {
      last.quiet += n;
      return;
    }
    const more =
      last === undefined || last.quiet === 0 ? '' : ` (and ${last.quiet} more since the last report)`;
    this.#logged.set(kind, { atMs: now, quiet: 0 });
    this.#log.warn(`refused (${kind}): ${why}${more}`);
  }

  stats(): GuardStats {
    return { ...this.#counts };
  }
}

const guards = new WeakMap<ServiceBroker, Guard>();

/** The node's one Guard: every part of a node (throttle, link, pools) counts into the same. */
export function guardOf(broker: ServiceBroker, clock: Clock): Guard {
  let g = guards.get(broker);
  if (g === undefined) {
    g = new Guard(broker.getLogger('guard'), clock);
    guards.set(broker, g);
  }
  return g;
}
