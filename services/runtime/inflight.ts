/**
 * Counts work in flight so a stop can wait for it. Per-request bookkeeping on
 * the check path, so a counter rather than a set of promises.
 */
export class Inflight {
  #count = 0;
  #waiters: Array<() => void> = [];

  /** Counts `p` until it settles (either way). */
  track(p: Promise<unknown>): void {
    this.#count++;
    p.then(this.#settled, this.#settled);
  }

  /** Resolves once nothing tracked is in flight. */
  idle(): Promise<void> {
    return this.#count === 0 ? Promise.resolve() : new Promise((r) => this.#waiters.push(r));
  }

  readonly #settled = (): void => {
    if (--this.#count > 0) return;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  };
}
