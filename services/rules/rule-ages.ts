import type { Clock } from '../../lib/index.ts';

/** Rule ids remembered at most; past it every id counts as of unknown age (never looser). */
const MAX_IDS = 100_000;

/**
 * When this node first saw each rule id (domain ms). A token of a rule that
 * came to be after a membership change cannot have been served by another
 * node before then, so that change fences nothing of it
 * (services/cluster/ownership.ts `fenceFor`'s `sinceMs`): a rule put after a
 * node left is not shut for its burst tolerance on its first request.
 *
 * Rules loaded at start (the node does not know how long they have existed),
 * and every id seen after the map overflowed, are of unknown age
 * (-Infinity: fenced as any token). A deleted and re-put rule keeps its first
 * time (its old tokens may still be held somewhere).
 */
export class RuleAges {
  readonly #clock: Clock;
  readonly #seen = new Map<string, number>();
  #overflowed = false;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** The rule ids in the store now; `initial`: loaded at start, of unknown age. */
  observe(ids: Iterable<string>, initial: boolean): void {
    const now = this.#clock.now();
    for (const id of ids) {
      if (this.#seen.has(id)) continue;
      if (this.#seen.size >= MAX_IDS) {
        this.#seen.clear();
        this.#overflowed = true;
      }
      this.#seen.set(id, initial || this.#overflowed ? Number.NEGATIVE_INFINITY : now);
    }
  }

  /** When this node first saw rule `id` (domain ms); -Infinity when unknown. */
  sinceMs(id: string): number {
    return this.#seen.get(id) ?? Number.NEGATIVE_INFINITY;
  }
}
