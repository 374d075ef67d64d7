import { ErrorCode, StateError, invalidField, show } from '../lib/index.ts';
import type { Clock } from '../lib/index.ts';
import { ActorStatus, PassivationReason, compileActorHostOptions } from './actor-host-options.ts';
import type { ActorHostEvents, ActorHostOptions, ActorHostStats } from './actor-host-options.ts';
import { ActorSlots } from './actor-slots.ts';
import type { ActorFactory, Slot } from './actor-slots.ts';
import type { Residency } from './residency.ts';

/**
 * Hosts actors of one kind, keyed by `K`, activating each on its first
 * message and passivating it when idle, evicted, released, failed or stopped.
 * Messages to one actor run one at a time, in order (a `Mailbox` per
 * key); different keys run concurrently.
 *
 * Invariant: a key is resident while its actor is live or its mailbox holds
 * work. Residents are kept in order of last activity (a {@link Residency}:
 * O(1) per message, one timer per host), which serves both LRU eviction and
 * idle passivation. A busy actor (non-empty mailbox) is never passivated for
 * idleness, and its idleness counts from when its mailbox drained.
 *
 * Failure: when a message throws, its ask rejects with a HeadroomError code
 * ActorFailed (cause = the original), `onError` is told, the actor is
 * passivated with reason `failed`, and messages already queued behind it,
 * like any later ones, run in order on a fresh activation.
 *
 * @example
 * const host = new ActorHost((key, restored) => new Counter(key, restored), { clock });
 * const n = await host.ask('a', (c) => c.increment());
 *
 * Activation input: a host of kind `I` passes the `input` of the ask that
 * activates an actor to the factory (e.g. a token's rule), so an actor is
 * made from what its first message carries, never from state on the side.
 */
/** {@link ActorHost.tryNow}'s answer when the message must be asked (queued) instead. */
export const NOT_NOW: unique symbol = Symbol('not now');

export class ActorHost<K extends string, A, I = never> {
  readonly options: Readonly<ActorHostOptions<A>>;
  readonly #run: ActorSlots<K, A, I>;
  readonly #slots: Residency<K, Slot<K, A>>;
  readonly #passivated: ((key: K, reason: PassivationReason) => void)[] = [];
  #stopped = false;
  #stopping: Promise<void> | undefined;

  constructor(
    factory: ActorFactory<K, A, I>,
    options: Partial<ActorHostOptions<A>> & { clock: Clock },
    events: ActorHostEvents<K, A> = {},
  ) {
    if (typeof factory !== 'function') throw invalidField('actorHost.factory', 'a function', factory);
    this.options = compileActorHostOptions(options);
    const onPassivate = events.onPassivate;
    this.#run = new ActorSlots(
      factory,
      {
        ...events,
        onPassivate: (key, actor, reason) => {
          try {
            return onPassivate?.(key, actor, reason);
          } finally {
            for (const listener of this.#passivated) listener(key, reason);
          }
        },
      },
      this.options,
    );
    this.#slots = this.#run.residents;
  }

  /**
   * Calls `listener` whenever an actor leaves the host, for every reason
   * (idle, evicted, handed off, stopped, failed), after the `onPassivate`
   * event and inside the key's mailbox: parts that keep per-key state beside
   * the actor (the forecaster's combiner state) free it here, in O(1),
   * instead of sweeping every key they hold. A throw is reported to
   * `onError` like a throwing hook.
   */
  onPassivate(listener: (key: K, reason: PassivationReason) => void): void {
    this.#passivated.push(listener);
  }

  /**
   * Runs `fn` on the actor for `key` (activating it first if needed) inside
   * that actor's mailbox. Rejects with ActorFailed when `fn` or the factory
   * throws, and with a StateError code Unavailable once {@link stop} began.
   * `input` goes to the factory if this message activates the actor (now,
   * or in the mailbox after a queued passivation or a failure).
   */
  ask<R>(key: K, fn: (actor: A) => R | Promise<R>, input?: I): Promise<R> {
    if (typeof key !== 'string') return Promise.reject(invalidField('key', 'a string', key));
    if (this.#stopped) return Promise.reject(this.#unavailable(key));
    let slot = this.#slots.get(key);
    const fresh = slot === undefined;
    if (slot === undefined) {
      try {
        slot = this.#run.open(key, undefined, input);
      } catch (err) {
        return Promise.reject(err as Error);
      }
    } else {
      this.#run.touch(slot);
    }
    const s = slot;
    const reply = this.#run.enqueue(s, () => this.#run.deliver(s, fn, input));
    if (fresh) this.#run.enforceCap(s);
    return reply;
  }

  /**
   * Runs `fn` on `key`'s actor at once when that is the same as {@link ask}:
   * the actor is live, nothing is queued for it and the host runs. Returns
   * {@link NOT_NOW} otherwise (not resident, activating, busy, stopping):
   * the caller asks instead. The check path's synchronous takes use it to
   * skip a mailbox promise per item (issue 15); an asynchronous `fn`, a throw
   * and the failure path behave as with ask (see ActorSlots.deliverNow).
   * `arg` is passed on to `fn`, so a caller deciding many items can hand
   * over one function for all of them instead of a closure per item.
   * `nowMs`, the host clock's time the caller already read for the items
   * (their decisions' time), marks the actor active then: one clock read
   * per item less. @default the host clock's now
   */
  tryNow<R, T = undefined>(
    key: K,
    fn: (actor: A, arg: T) => R | Promise<R>,
    arg?: T,
    nowMs?: number,
  ): R | Promise<R> | typeof NOT_NOW {
    if (this.#stopped) return NOT_NOW;
    const slot = this.#slots.get(key);
    if (slot === undefined || slot.actor === undefined || slot.mailbox.length > 0) return NOT_NOW;
    return this.#run.deliverNow(slot, fn, arg as T, nowMs);
  }

  /** Whether `key` is resident (live, or with work queued). */
  has(key: K): boolean {
    return this.#slots.has(key);
  }

  /** Resident keys. */
  get size(): number {
    return this.#slots.size;
  }

  /**
   * Resident keys, least recently active first; the first `limit` of them
   * when given, without copying the rest (status asks for none of 100,000).
   */
  keys(limit = Number.POSITIVE_INFINITY): K[] {
    return this.#slots.keyList(limit);
  }

  /**
   * The live actors whose last activity (a message settled or arrived) is
   * at or after `sinceMs`, least recently active first. It walks back from
   * the most recent and stops at the first older one: O(what was active).
   * A request an actor recorded at time t leaves it active at t or later
   * (the same clock), so no actor with a request since `sinceMs` is missed.
   */
  activeSince(sinceMs: number): A[] {
    const out: A[] = [];
    this.#slots.walkNewest((slot) => {
      if (slot.lastActiveMs < sinceMs) return false;
      if (slot.actor !== undefined) out.push(slot.actor);
      return true;
    });
    return out.reverse();
  }

  /** The live actor for `key`, without activating or touching it. */
  peek(key: K): A | undefined {
    return this.#slots.get(key)?.actor;
  }

  /** Where `key`'s actor is in its life; `undefined` when not resident. */
  status(key: K): ActorStatus | undefined {
    const slot = this.#slots.get(key);
    if (slot === undefined) return undefined;
    if (slot.failed) return ActorStatus.Failed;
    return slot.retiring > 0 || slot.actor === undefined ? ActorStatus.Passivating : ActorStatus.Active;
  }

  /**
   * Passivates `key`'s actor once the messages queued before this call have
   * run; `reason` (for onPassivate) defaults to `idle`. A message that
   * arrives meanwhile runs afterwards on a fresh actor. Resolves at once when
   * `key` is not resident.
   */
  async passivate(key: K, reason: PassivationReason = PassivationReason.Idle): Promise<void> {
    const slot = this.#slots.get(key);
    if (slot !== undefined) await this.#run.schedule(slot, reason);
  }

  /**
   * Removes `keys`' actors once their queued messages have run (onPassivate
   * reason `handoff`) and returns them, for hand-off to a new owner node.
   * Keys not resident, or whose actor failed while draining, are absent from
   * the result. Asks for these keys that arrive meanwhile wait and then run on
   * a fresh actor here, so callers should re-route before releasing.
   */
  async release(keys: readonly K[]): Promise<Map<K, A>> {
    const unique = [...new Set(keys)];
    const actors = await Promise.all(
      unique.map((key) => {
        const slot = this.#slots.get(key);
        return slot === undefined ? undefined : this.#run.schedule(slot, PassivationReason.Handoff);
      }),
    );
    const out = new Map<K, A>();
    unique.forEach((key, i) => {
      const actor = actors[i];
      if (actor !== undefined) out.set(key, actor);
    });
    return out;
  }

  /**
   * Activates `key` with `restored` (the factory gets it). When `key` is
   * already resident, in its mailbox: an actor that is live gets the state
   * through `options.merge` or, without one, keeps its own (it has seen the
   * newer messages); a key between activations is activated with `restored`.
   * Throws ActorFailed when the factory throws, Unavailable once stopped.
   */
  restore(key: K, restored: unknown): void {
    if (typeof key !== 'string') throw invalidField('key', 'a string', key);
    if (this.#stopped) throw this.#unavailable(key);
    const slot = this.#slots.get(key);
    if (slot === undefined) {
      this.#run.enforceCap(this.#run.open(key, restored));
      return;
    }
    this.#run.touch(slot);
    const merge = this.options.merge;
    const done = this.#run.enqueue(slot, () => {
      if (slot.actor === undefined) {
        slot.restored = restored;
        this.#run.activate(slot);
        return undefined;
      }
      return merge === undefined
        ? undefined
        : this.#run.deliver(slot, (actor) => merge(actor, restored, key));
    });
    // A failure here was reported through onError already.
    done.catch(() => undefined);
  }

  /** Resolves once every mailbox is empty (tests, orderly shutdowns). */
  async idle(): Promise<void> {
    for (;;) {
      const busy = [...this.#slots.values()].filter((s) => s.mailbox.length > 0);
      if (busy.length === 0) return;
      await Promise.all(busy.map((s) => s.mailbox.idle()));
    }
  }

  /**
   * Stops accepting work (ask rejects with a StateError code Unavailable),
   * lets every mailbox drain, and passivates all actors (reason `stopped`).
   * Idempotent: later calls return the same promise.
   */
  stop(): Promise<void> {
    if (this.#stopping === undefined) {
      this.#stopped = true;
      this.#slots.close();
      this.#stopping = this.#passivateAll();
    }
    return this.#stopping;
  }

  /** Counters since construction, and the current live and over-cap counts. */
  stats(): ActorHostStats {
    return this.#run.stats();
  }

  async #passivateAll(): Promise<void> {
    // Queued messages may activate fresh actors while draining (after a
    // failure), so repeat until nothing is resident.
    while (this.#slots.size > 0) {
      await Promise.all(
        [...this.#slots.values()].map((s) => this.#run.schedule(s, PassivationReason.Stopped)),
      );
    }
  }

  #unavailable(key: K): StateError {
    return new StateError(ErrorCode.Unavailable, `actor host stopped: refused message for ${show(key)}`);
  }
}
