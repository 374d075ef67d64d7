/**
 * How often each token not leased yet is checked, for the client's
 * `leases` option (client/leases.ts): a token checked at least
 * `minRatePerSec` times within a second is leased, its first ask wanting
 * the rate seen. Bounded: past {@link MAX_METERS} tokens the meters start
 * over (a token then needs another second of checks to be leased).
 */
import type { Meter } from './lease-slice.ts';

/** Most tokens metered at once. */
const MAX_METERS = 10_000;

export class LeaseMeters {
  readonly #meters = new Map<string, Meter>();
  readonly #minRatePerSec: number;

  constructor(minRatePerSec: number) {
    this.#minRatePerSec = minRatePerSec;
  }

  /** Counts a check of `token` at `t`; its meter once it reached the minimum rate within a second. */
  often(token: string, t: number): Meter | undefined {
    let m = this.#meters.get(token);
    if (m === undefined || t - m.since > 1000) {
      if (m === undefined && this.#meters.size >= MAX_METERS) this.#meters.clear();
      m = { since: t, count: 0 };
      this.#meters.set(token, m);
    }
    return ++m.count >= this.#minRatePerSec ? m : undefined;
  }

  /** Stops metering `token` (it is leased now). */
  delete(token: string): void {
    this.#meters.delete(token);
  }
}
