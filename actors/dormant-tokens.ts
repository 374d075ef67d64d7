/**
 * Idle token actors whose bucket has not refilled yet (a token of 5 per hour
 * that went quiet after its burst). Their state waits here until it no longer
 * matters, so passivating an actor never hands out a fresh burst. What is
 * kept of each is the caller's: `keep` makes it from the actor and its
 * snapshot (services/check keeps a hand-off item: the rule as it travels, and
 * the snapshot), so the state of a dormant token can be handed off as is.
 */
import type { Clock, Placement, TokenKey } from '../lib/index.ts';
import type { TokenActor, TokenActorSnapshot } from './token-actor.ts';

/** What is kept of a dormant token: at least its snapshot (its GCRA state says when it matters no more). */
export interface DormantState {
  snapshot: TokenActorSnapshot;
}

export class DormantTokens<T extends DormantState = DormantState> {
  readonly #clock: Clock;
  readonly #keep: (actor: TokenActor, snapshot: TokenActorSnapshot) => T;
  readonly #items = new Map<TokenKey, T>();

  /** @param keep what to keep of a passivated actor (called only when its bucket is still short) */
  constructor(clock: Clock, keep: (actor: TokenActor, snapshot: TokenActorSnapshot) => T) {
    this.#clock = clock;
    this.#keep = keep;
  }

  get size(): number {
    return this.#items.size;
  }

  /** Keeps a passivated actor's state if its bucket is still short. */
  sleep(token: TokenKey, actor: TokenActor): void {
    // Checked before the snapshot is built: most passivated tokens (one-off users) have refilled.
    if (actor.tat <= this.#clock.now()) return;
    this.#items.set(token, this.#keep(actor, actor.snapshot()));
    if (this.#items.size % 1024 === 0) this.sweep();
  }

  /**
   * Activates `token` from its dormant state, if any: `activate` gets the
   * state (undefined when the token is not dormant), and the state is
   * forgotten only once `activate` has returned. An activation that throws
   * leaves it dormant, so a failure on the way can never hand out a fresh
   * burst.
   */
  wake<R>(token: TokenKey, activate: (state: T | undefined) => R): R {
    const item = this.#items.get(token);
    const made = activate(item);
    if (item !== undefined && this.#items.get(token) === item) this.#items.delete(token);
    return made;
  }

  peek(token: TokenKey): T | undefined {
    return this.#items.get(token);
  }

  /** Forgets the tokens whose bucket has refilled. */
  sweep(): void {
    const now = this.#clock.now();
    for (const [token, item] of this.#items) if (item.snapshot.gcra.tat <= now) this.#items.delete(token);
  }

  /** Removes and returns the dormant tokens that `self` no longer owns under `placement`. */
  takeMoved(placement: Placement, self: string): Array<[TokenKey, T]> {
    this.sweep();
    const moved: Array<[TokenKey, T]> = [];
    for (const [token, item] of this.#items) {
      if (placement.owner(token) !== self) {
        this.#items.delete(token);
        moved.push([token, item]);
      }
    }
    return moved;
  }
}
