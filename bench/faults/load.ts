/**
 * Closed-loop load on `headroom.v1.check`: `clients` loops, each sending its
 * next check as soon as the last one is answered, as nats.js request/reply.
 * A share of the checks goes to a few hot users far above the rule, the rest
 * to background users (or, from a given moment, to one-off users). Every
 * check's send time and outcome is recorded, and for each hot user the
 * interval [sent, answered] of each allowed check.
 */
import { ErrorCode as NatsErrorCode, NatsError } from 'nats';
import type { NatsConnection } from 'nats';

export const Outcome = {
  Allowed: 0,
  Denied: 1,
  /** The reply was an `{error}` body. */
  ErrorReply: 2,
  Timeout: 3,
  NoResponders: 4,
  /** Any other client-side failure (e.g. the connection was down). */
  Failed: 5,
} as const;
export type Outcome = (typeof Outcome)[keyof typeof Outcome];

/** An allowed check of a hot user: when it was sent and when its reply came (ms since the run's start). */
export interface Allowed {
  sentMs: number;
  answeredMs: number;
}

export interface LoadOptions {
  clients: number;
  seconds: number;
  hotUsers: readonly string[];
  /** Fraction of the checks that go to a hot user (round robin over them). */
  hotShare: number;
  backgroundUsers: number;
  timeoutMs: number;
  /** After a failed check a client waits this long, as a client backing off would (no tight loop on no-responders). */
  failPauseMs: number;
}

/**
 * Distinct users, each used once, that replace background users from
 * `fromMs` on; the run goes on past its end until they are all sent, but
 * not past `untilMs`.
 */
export interface OneOffStream {
  fromMs: number;
  untilMs: number;
  next(): string | undefined;
}

export interface LoadRecord {
  /** performance.now() at the run's start; every time below is relative to it. */
  t0: number;
  sentMs: number[];
  outcome: Outcome[];
  /** Per hot user, its allowed checks in the order their replies came. */
  allowed: Map<string, Allowed[]>;
  /** One-off users actually sent. */
  oneOffSent: number;
  /** Checks sent to hot users. */
  hotSent: number;
}

export class Load {
  readonly record: LoadRecord;
  readonly #nc: NatsConnection;
  readonly #opts: LoadOptions;
  #oneOff: OneOffStream | null = null;
  #oneOffDone = false;
  #seq = 0;

  constructor(nc: NatsConnection, opts: LoadOptions) {
    this.#nc = nc;
    this.#opts = opts;
    this.record = {
      t0: performance.now(),
      sentMs: [],
      outcome: [],
      allowed: new Map(opts.hotUsers.map((u) => [u, []])),
      oneOffSent: 0,
      hotSent: 0,
    };
  }

  /** Milliseconds since the run's start. */
  now(): number {
    return performance.now() - this.record.t0;
  }

  oneOff(stream: OneOffStream): void {
    this.#oneOff = stream;
  }

  #pickUser(): { user: string; hot: boolean } {
    const { hotUsers, hotShare, backgroundUsers } = this.#opts;
    const i = this.#seq++;
    // Deterministic interleaving: hotShare of every 100 checks go to hot users.
    if (i % 100 < hotShare * 100) return { user: hotUsers[i % hotUsers.length] as string, hot: true };
    const oneOff = this.#oneOff;
    if (oneOff !== null && this.now() >= oneOff.fromMs) {
      const user = oneOff.next();
      if (user !== undefined) {
        this.record.oneOffSent++;
        return { user, hot: false };
      }
      this.#oneOffDone = true;
    }
    return { user: `bg-${i % backgroundUsers}`, hot: false };
  }

  #going(): boolean {
    const now = this.now();
    if (now < this.#opts.seconds * 1000) return true;
    const oneOff = this.#oneOff;
    return oneOff !== null && !this.#oneOffDone && now < oneOff.untilMs;
  }

  /** Runs the load for `seconds` (or longer, see OneOffStream); resolves once every check in flight has settled. */
  async run(): Promise<void> {
    await Promise.all(
      Array.from({ length: this.#opts.clients }, async () => {
        while (this.#going()) {
          const ok = await this.#one();
          if (!ok) await new Promise((r) => setTimeout(r, this.#opts.failPauseMs));
        }
      }),
    );
  }

  async #one(): Promise<boolean> {
    const { user, hot } = this.#pickUser();
    if (hot) this.record.hotSent++;
    const body = `{"params":{"user":${JSON.stringify(user)}}}`;
    const sentMs = this.now();
    let outcome: Outcome;
    try {
      const msg = await this.#nc.request('headroom.v1.check', body, { timeout: this.#opts.timeoutMs });
      const reply = JSON.parse(msg.string()) as { allow?: unknown; error?: unknown };
      if (reply.allow === true) outcome = Outcome.Allowed;
      else if (reply.allow === false) outcome = Outcome.Denied;
      else outcome = Outcome.ErrorReply;
    } catch (err) {
      outcome = failure(err);
    }
    this.record.sentMs.push(sentMs);
    this.record.outcome.push(outcome);
    if (hot && outcome === Outcome.Allowed) {
      this.record.allowed.get(user)?.push({ sentMs, answeredMs: this.now() });
    }
    return outcome === Outcome.Allowed || outcome === Outcome.Denied;
  }
}

function failure(err: unknown): Outcome {
  if (err instanceof NatsError) {
    if (err.code === NatsErrorCode.Timeout) return Outcome.Timeout;
    if (err.code === NatsErrorCode.NoResponders) return Outcome.NoResponders;
  }
  return Outcome.Failed;
}
