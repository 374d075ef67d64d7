import { ErrorCode, InputError, show } from '../lib/index.ts';
import type { Clock, HeadroomError } from '../lib/index.ts';

/** Where an actor is in its life on this host. */
export const ActorStatus = {
  /** Activated and taking messages. */
  Active: 'active',
  /** A passivation is queued behind its pending messages. */
  Passivating: 'passivating',
  /** A message threw; the actor is being passivated with reason `failed`. */
  Failed: 'failed',
} as const;
export type ActorStatus = (typeof ActorStatus)[keyof typeof ActorStatus];

/** Why an actor was passivated, as passed to {@link ActorHostEvents.onPassivate}. */
export const PassivationReason = {
  /** No message for `idleMs`. */
  Idle: 'idle',
  /** The host reached `maxActors` and this was the least recently used idle actor. */
  Evicted: 'evicted',
  /** Released for hand-off to a new owner node. */
  Handoff: 'handoff',
  /** The host is stopping. */
  Stopped: 'stopped',
  /** A message threw. */
  Failed: 'failed',
} as const;
export type PassivationReason = (typeof PassivationReason)[keyof typeof PassivationReason];

/** Options of an `ActorHost`; `A` is the actor type. */
export interface ActorHostOptions<A = unknown> {
  /** Passivate an actor after this long without a message. @default 300_000 */
  idleMs: number;
  /** Most live actors on this host; activating one more evicts the least recently used idle one. @default 100_000 */
  maxActors: number;
  /** The time source for idleness and the idle sweep's timer. */
  clock: Clock;
  /**
   * Least time between two idle sweeps: an idle actor is passivated between
   * `idleMs` and `idleMs + sweepMs` after its last message.
   * @default Math.min(idleMs, 1000)
   */
  sweepMs: number;
  /**
   * Called by `ActorHost.restore` when the key is already live, inside
   * the actor's mailbox, to fold restored state into it. Without it, the live
   * actor wins and the restored state is dropped (the live one has seen the
   * newer messages). A throw fails the actor like a throwing message.
   * @default undefined
   */
  merge: ((actor: A, restored: unknown, key: string) => void) | undefined;
}

/** Hooks an `ActorHost` calls; a hook that throws is reported to `onError` and otherwise ignored. */
export interface ActorHostEvents<K extends string, A> {
  /** After the factory made an actor (first activation or a fresh one after passivation). */
  onActivate?(key: K, actor: A): void;
  /**
   * When an actor leaves the host. It runs inside the actor's mailbox, so
   * a message for the key that arrives meanwhile waits until it has settled
   * and then activates a fresh actor.
   */
  onPassivate?(key: K, actor: A, reason: PassivationReason): void | Promise<void>;
  /** An actor failed (code ActorFailed) or a hook threw (code Internal). */
  onError?(key: K, error: HeadroomError): void;
}

/** The defaults: a fresh object, without the clock (which has none) and `sweepMs` (derived from `idleMs`). */
export function defaultActorHostOptions(): Omit<ActorHostOptions, 'clock' | 'sweepMs'> {
  return { idleMs: 300_000, maxActors: 100_000, merge: undefined };
}

const KNOWN = ['idleMs', 'maxActors', 'clock', 'sweepMs', 'merge'] as const;

/**
 * Checks `input` over the defaults: rejects unknown keys and bad values,
 * listing every problem in one InputError (code InvalidOptions), and returns
 * a frozen, fully-required object.
 */
export function compileActorHostOptions<A>(
  input: Partial<ActorHostOptions<A>> & { clock: Clock },
): Readonly<ActorHostOptions<A>> {
  const problems: { field: string; message: string }[] = [];
  const bad = (key: string, expected: string, value: unknown): void => {
    const field = `actorHost.${key}`;
    problems.push({ field, message: `${field} must be ${expected}, got ${show(value)}` });
  };
  const raw = (input ?? {}) as Record<string, unknown>;
  for (const key of Object.keys(raw)) {
    if (!(KNOWN as readonly string[]).includes(key)) {
      const field = `actorHost.${key}`;
      problems.push({ field, message: `${field} is not a known option (known: ${KNOWN.join(', ')})` });
    }
  }
  const d = defaultActorHostOptions();
  const idleMs = raw.idleMs ?? d.idleMs;
  if (typeof idleMs !== 'number' || !Number.isFinite(idleMs) || idleMs <= 0) {
    bad('idleMs', 'a positive number of milliseconds', idleMs);
  }
  const maxActors = raw.maxActors ?? d.maxActors;
  if (typeof maxActors !== 'number' || !Number.isSafeInteger(maxActors) || maxActors < 1) {
    bad('maxActors', 'a positive integer', maxActors);
  }
  const clock = raw.clock as Partial<Clock> | undefined;
  if (
    typeof clock !== 'object' ||
    clock === null ||
    typeof clock.now !== 'function' ||
    typeof clock.setTimeout !== 'function' ||
    typeof clock.clearTimeout !== 'function'
  ) {
    bad('clock', 'a Clock (now, setTimeout, clearTimeout)', clock);
  }
  const sweepMs = raw.sweepMs ?? (typeof idleMs === 'number' ? Math.min(idleMs, 1000) : 1000);
  if (typeof sweepMs !== 'number' || !Number.isFinite(sweepMs) || sweepMs <= 0) {
    bad('sweepMs', 'a positive number of milliseconds', sweepMs);
  }
  const merge = raw.merge ?? d.merge;
  if (merge !== undefined && typeof merge !== 'function') bad('merge', 'a function', merge);
  if (problems.length > 0) {
    throw new InputError(ErrorCode.InvalidOptions, problems.map((p) => p.message).join('; '), {
      field: problems[0]!.field,
    });
  }
  return Object.freeze({
    idleMs: idleMs as number,
    maxActors: maxActors as number,
    clock: clock as Clock,
    sweepMs: sweepMs as number,
    merge: merge as ActorHostOptions<A>['merge'],
  });
}

/** Counters of an `ActorHost`, from `ActorHost.stats`. */
export interface ActorHostStats {
  /** Keys resident on the host (actors live, or work queued for them). */
  live: number;
  activations: number;
  passivations: number;
  /** Passivations for the `maxActors` cap. */
  evictions: number;
  /** Messages that threw plus factories that threw. */
  failures: number;
  /** Keys with a passivation queued and not yet done. */
  passivating: number;
  /** Actors above `maxActors` because every older one was busy; 0 normally. */
  overCap: number;
}
