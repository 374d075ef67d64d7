/**
 * The collector's queue of decisions and refunds, filled on the check path
 * and drained by the tick: four values per entry in one flat array, so the
 * check path allocates no object per decision.
 */
import type { ObservedItem } from './observer.ts';

/** What a queued entry is. */
export const Queued = { Refund: 0, Allowed: 1, Denied: 2 } as const;
export type Queued = (typeof Queued)[keyof typeof Queued];

/** Slots per entry: item, Queued, rule id ('' for a refund), time. */
const SLOTS = 4;

export class DecisionQueue {
  #slots: unknown[] = [];

  /** Entries waiting. */
  get length(): number {
    return this.#slots.length / SLOTS;
  }

  push(item: ObservedItem, what: Queued, ruleId: string, nowMs: number): void {
    this.#slots.push(item, what, ruleId, nowMs);
  }

  /** Takes every entry, oldest first, and calls `each` with it. */
  drain(each: (item: ObservedItem, what: Queued, ruleId: string, nowMs: number) => void): void {
    const slots = this.#slots;
    this.#slots = [];
    for (let i = 0; i < slots.length; i += SLOTS) {
      each(slots[i] as ObservedItem, slots[i + 1] as Queued, slots[i + 2] as string, slots[i + 3] as number);
    }
  }
}
