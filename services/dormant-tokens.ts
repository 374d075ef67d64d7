/**
 * Idle token actors whose bucket has not refilled yet (a token of 5 per hour
 * that went quiet after its burst). Their state waits here until it no longer
 * matters, so passivating an actor never hands out a fresh burst.
 */
import type { TokenActor } from '../actors/index.ts';
import type { Clock, Placement, TokenKey } from '../lib/index.ts';
import type { HandoffItem } from './wire.ts';
import { refOf } from './wire.ts';

export class DormantTokens {
  readonly #clock: Clock;
  readonly #items = new Map<TokenKey, HandoffItem>();

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  get size(): number {
    return this.#items.size;
  }

  /** Keeps a passivated actor's state if its bucket is still short. */
  sleep(token: TokenKey, actor: TokenActor): void {
    const snapshot = actor.snapshot();
    if (snapshot.gcra.tat <= this.#clock.now()) return;
    this.#items.set(token, { rule: refOf(actor.rule), snapshot });
    if (this.#items.size % 1024 === 0) this.sweep();
  }

  /** The state to activate `token` with, if it is dormant (and no longer dormant after). */
  wake(token: TokenKey): HandoffItem | undefined {
    const item = this.#items.get(token);
    if (item !== undefined) this.#items.delete(token);
    return item;
  }

  peek(token: TokenKey): HandoffItem | undefined {
    return this.#items.get(token);
  }

  /** Forgets the tokens whose bucket has refilled. */
  sweep(): void {
    const now = this.#clock.now();
    for (const [token, item] of this.#items) if (item.snapshot.gcra.tat <= now) this.#items.delete(token);
  }

  /** Removes and returns the dormant tokens that `self` no longer owns under `placement`. */
  takeMoved(placement: Placement, self: string): Array<[TokenKey, HandoffItem]> {
    this.sweep();
    const moved: Array<[TokenKey, HandoffItem]> = [];
    for (const [token, item] of this.#items) {
      if (placement.owner(token) !== self) {
        this.#items.delete(token);
        moved.push([token, item]);
      }
    }
    return moved;
  }
}
