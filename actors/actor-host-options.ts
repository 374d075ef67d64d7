import {
  mergeOptions,
  optClock,
  optFunction,
  optPositiveInt,
  optPositiveMs,
  optionsError,
  unknownKeysFirst,
} from '../lib/index.ts';
import type { Clock, HeadroomError, OptionSchema } from '../lib/index.ts';

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

const SCHEMA: OptionSchema<ActorHostOptions> = {
  idleMs: optPositiveMs,
  maxActors: optPositiveInt,
  clock: optClock,
  sweepMs: optPositiveMs,
  merge: optFunction<ActorHostOptions['merge']>(),
};

/**
 * Compiles `input` over the defaults with lib/options.ts: rejects unknown
 * keys and bad values, listing every problem in one InputError (code
 * InvalidOptions, a misspelt key first), and returns a frozen,
 * fully-required object.
 */
export function compileActorHostOptions<A>(
  input: Partial<ActorHostOptions<A>> & { clock: Clock },
): Readonly<ActorHostOptions<A>> {
  const { values, problems } = mergeOptions(
    'actorHost',
    SCHEMA,
    defaultActorHostOptions(),
    [(input ?? {}) as Record<string, unknown>],
    ['clock'],
  );
  if (problems.length > 0) throw optionsError(unknownKeysFirst('actorHost', SCHEMA, problems));
  const o = values as unknown as ActorHostOptions<A>;
  // sweepMs has no fixed default: it follows the compiled idleMs (see its doc).
  o.sweepMs ??= Math.min(o.idleMs, 1000);
  return Object.freeze(o);
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
