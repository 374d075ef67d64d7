import { ErrorCode, HeadroomError, isThenable, show } from '../lib/index.ts';
import { PassivationReason } from './actor-host-options.ts';
import type { ActorHostEvents, ActorHostOptions, ActorHostStats } from './actor-host-options.ts';
import { Mailbox } from './mailbox.ts';
import { Residency } from './residency.ts';

/**
 * One per resident key. The mailbox belongs to the key, not to one actor: a
 * fresh activation after a failure or a queued passivation reuses it, so
 * messages for a key keep their order across activations.
 */
export interface Slot<K, A> {
  readonly key: K;
  readonly mailbox: Mailbox;
  actor: A | undefined;
  /** State for the next activation, from restore(). */
  restored: unknown;
  lastActiveMs: number;
  /** Neighbours in activity order (the Residency's links). */
  older: Slot<K, A> | undefined;
  newer: Slot<K, A> | undefined;
  /** Passivations queued and not yet done. */
  retiring: number;
  failed: boolean;
}

/**
 * Makes a key's actor: from `restored` (the state {@link ActorHost.restore}
 * gave), else from `input`, the activation input of the message that
 * activates it ({@link ActorHost.ask}); either may be undefined.
 */
export type ActorFactory<K, A, I = never> = (key: K, restored: unknown, input: I | undefined) => A;

const messageOf = (err: unknown): string => (err instanceof Error ? err.message : show(err));
const failed = (code: ErrorCode, message: string, cause: unknown): HeadroomError =>
  new HeadroomError(code, message, { cause });

/**
 * The slot machinery behind `ActorHost` (internal to actors/): activation,
 * delivery with the failure path, queued passivation, LRU eviction and the
 * counters. Every change to a slot's actor runs inside that slot's mailbox,
 * except the first activation in {@link open}, before the slot is resident.
 */
export class ActorSlots<K extends string, A, I = never> {
  /** Resident slots, least recently active first. */
  readonly residents: Residency<K, Slot<K, A>>;
  readonly #factory: ActorFactory<K, A, I>;
  readonly #events: ActorHostEvents<K, A>;
  readonly #maxActors: number;
  #retiringSlots = 0;
  #activations = 0;
  #passivations = 0;
  #evictions = 0;
  #failures = 0;

  constructor(
    factory: ActorFactory<K, A, I>,
    events: ActorHostEvents<K, A>,
    options: Readonly<ActorHostOptions<A>>,
  ) {
    this.#factory = factory;
    this.#events = events;
    this.#maxActors = options.maxActors;
    this.residents = new Residency(options.clock, options.idleMs, options.sweepMs, (slot) => {
      if (slot.mailbox.length === 0 && slot.actor !== undefined)
        this.#background(slot, PassivationReason.Idle);
    });
  }

  stats(): ActorHostStats {
    const live = this.residents.size;
    return {
      live,
      activations: this.#activations,
      passivations: this.#passivations,
      evictions: this.#evictions,
      failures: this.#failures,
      passivating: this.#retiringSlots,
      overCap: Math.max(0, live - this.#retiringSlots - this.#maxActors),
    };
  }

  /** Makes a resident slot with a live actor; throws ActorFailed, leaving nothing resident, when the factory throws. */
  open(key: K, restored: unknown, input?: I): Slot<K, A> {
    const slot: Slot<K, A> = {
      key,
      mailbox: new Mailbox(),
      actor: undefined,
      restored,
      lastActiveMs: 0,
      older: undefined,
      newer: undefined,
      retiring: 0,
      failed: false,
    };
    this.activate(slot, input); // throws before the slot is resident
    this.touch(slot);
    return slot;
  }

  /** Makes the slot's actor from its restored state, or from `input` (the activating message's). */
  activate(slot: Slot<K, A>, input?: I): A {
    const restored = slot.restored;
    slot.restored = undefined;
    let actor: A;
    try {
      actor = this.#factory(slot.key, restored, input);
    } catch (err) {
      this.#failures++;
      const error = failed(
        ErrorCode.ActorFailed,
        `actor ${show(slot.key)} failed to activate: ${messageOf(err)}`,
        err,
      );
      this.#report(slot.key, error);
      throw error;
    }
    slot.actor = actor;
    this.#activations++;
    try {
      this.#events.onActivate?.(slot.key, actor);
    } catch (err) {
      this.#hookFailed(slot.key, 'onActivate', err);
    }
    return actor;
  }

  /**
   * Runs `fn` on the slot's actor (activating a fresh one if needed). A throw
   * or rejection takes the failure path: reported, actor passivated with
   * reason `failed`, and the returned promise rejects with ActorFailed. A
   * synchronous result is returned as is (no extra microtask per message).
   */
  deliver<R>(slot: Slot<K, A>, fn: (actor: A) => R | Promise<R>, input?: I): R | Promise<R> {
    const actor = slot.actor ?? this.activate(slot, input);
    let result: R | Promise<R>;
    try {
      result = fn(actor);
    } catch (err) {
      return this.#fail(slot, err);
    }
    return isThenable(result)
      ? Promise.resolve(result).catch((err: unknown) => this.#fail(slot, err))
      : result;
  }

  /**
   * {@link deliver} outside the mailbox, for a caller that found it idle and
   * the actor live ({@link ActorHost.tryNow}): the same as queueing `fn` and
   * running it on the next microtask, less the promise and the hop. A
   * thenable result is queued in the mailbox before anything else can be,
   * so later messages still wait for its settlement; a throw takes the
   * failure path inside the mailbox, as a queued message's would.
   * `nowMs` (the clock's time, read by the caller) is when the actor was
   * last active; read here when not given.
   */
  deliverNow<R, T>(
    slot: Slot<K, A>,
    fn: (actor: A, arg: T) => R | Promise<R>,
    arg: T,
    nowMs?: number,
  ): R | Promise<R> {
    let result: R | Promise<R>;
    try {
      result = fn(slot.actor!, arg);
    } catch (err) {
      return this.enqueue(slot, () => this.#fail(slot, err));
    }
    if (isThenable(result)) {
      const running = result;
      return this.enqueue(slot, () =>
        Promise.resolve(running).catch((err: unknown) => this.#fail(slot, err)),
      );
    }
    // Idleness counts from here, as when a queued message settles. The slot is the one held
    // (looked up just now) unless `fn` deactivated it: only then is the key looked up again.
    if (slot.actor !== undefined) this.residents.refresh(slot, nowMs);
    else this.touch(slot);
    return result;
  }

  async #fail(slot: Slot<K, A>, err: unknown): Promise<never> {
    this.#failures++;
    const error = failed(ErrorCode.ActorFailed, `actor ${show(slot.key)} failed: ${messageOf(err)}`, err);
    slot.failed = true;
    this.#report(slot.key, error);
    try {
      await this.#deactivate(slot, PassivationReason.Failed);
    } finally {
      slot.failed = false;
    }
    throw error;
  }

  async #deactivate(slot: Slot<K, A>, reason: PassivationReason): Promise<A | undefined> {
    const actor = slot.actor;
    if (actor === undefined) return undefined;
    slot.actor = undefined;
    this.#passivations++;
    try {
      await this.#events.onPassivate?.(slot.key, actor, reason);
    } catch (err) {
      this.#hookFailed(slot.key, 'onPassivate', err);
    }
    return actor;
  }

  /** Queues a passivation behind `slot`'s pending messages; resolves with the actor it removed. */
  schedule(slot: Slot<K, A>, reason: PassivationReason): Promise<A | undefined> {
    if (slot.retiring++ === 0) this.#retiringSlots++;
    return this.enqueue(slot, async () => {
      try {
        return await this.#deactivate(slot, reason);
      } finally {
        if (--slot.retiring === 0) this.#retiringSlots--;
      }
    });
  }

  /** Queues `body` in the slot's mailbox; the slot's bookkeeping runs when it settles. */
  enqueue<R>(slot: Slot<K, A>, body: () => R | Promise<R>): Promise<R> {
    return slot.mailbox.enqueue(() => {
      let result: R | Promise<R>;
      try {
        result = body();
      } catch (err) {
        this.#settled(slot);
        throw err;
      }
      if (!isThenable(result)) {
        this.#settled(slot);
        return result;
      }
      return Promise.resolve(result).finally(() => this.#settled(slot));
    });
  }

  // Runs at the end of every task, while the task still counts in the mailbox.
  #settled(slot: Slot<K, A>): void {
    if (slot.mailbox.length > 1 || this.residents.get(slot.key) !== slot) return;
    if (slot.actor === undefined) {
      this.residents.delete(slot.key);
      return;
    }
    this.touch(slot); // idleness counts from when the mailbox drained
    // Over the cap because all were busy: this one is about to be idle too.
    if (this.residents.size - this.#retiringSlots > this.#maxActors) this.enforceCap(undefined, slot);
  }

  touch(slot: Slot<K, A>): void {
    this.residents.touch(slot.key, slot);
  }

  /**
   * Evicts least-recently-active idle actors down to the cap, never `except`;
   * `finishing` is running its last task and counts as idle. Busy ones are
   * skipped, so with all of them busy the host stays over the cap until one
   * drains (#settled calls back here). O(1) per eviction unless many of the
   * least recently active actors are busy.
   */
  enforceCap(except: Slot<K, A> | undefined, finishing?: Slot<K, A>): void {
    let excess = this.residents.size - this.#retiringSlots - this.#maxActors;
    if (excess <= 0) return;
    this.residents.walk((slot) => {
      const busy = slot.mailbox.length > (slot === finishing ? 1 : 0);
      if (slot === except || busy || slot.actor === undefined) return true;
      this.#evictions++;
      this.#background(slot, PassivationReason.Evicted);
      return --excess > 0;
    });
  }

  #background(slot: Slot<K, A>, reason: PassivationReason): void {
    this.schedule(slot, reason).catch((err: unknown) =>
      this.#hookFailed(slot.key, `${reason} passivation`, err),
    );
  }

  #hookFailed(key: K, what: string, err: unknown): void {
    this.#report(
      key,
      failed(ErrorCode.Internal, `${what} for actor ${show(key)} threw: ${messageOf(err)}`, err),
    );
  }

  #report(key: K, error: HeadroomError): void {
    try {
      this.#events.onError?.(key, error);
    } catch {
      // onError is the last resort: a throw from it has nowhere left to go.
    }
  }
}
