/**
 * k-anonymity for profile attributes (Sweeney 2002): a combination of
 * quasi-identifiers seen for fewer than k distinct tokens within the window
 * is generalised before storage.
 *
 * Generalisation follows one hierarchy: the quasi-identifiers in configured
 * order, suppressed from the last one backwards (`{tier, segment, age}` ->
 * `{tier, segment, other}` -> `{tier, other, other}` -> all `other`). For
 * each level the class keeps the distinct tokens seen in the window, and a
 * record gets the most specific level whose class holds at least k tokens.
 * Each node counts only the tokens it owns, which can only undercount: the
 * result errs toward more generalisation, never less.
 */
import { OTHER } from './policies.ts';

export class KAnonymiser {
  readonly k: number;
  readonly #quasi: readonly string[];
  readonly #windowMs: number;
  /** Level key -> token -> last seen; insertion order is last-seen order. */
  readonly #classes = new Map<string, Map<string, number>>();
  #nextSweepMs = 0;

  constructor(quasiIdentifiers: readonly string[], k: number, windowMs: number) {
    this.#quasi = quasiIdentifiers;
    this.k = k;
    this.#windowMs = windowMs;
  }

  /**
   * Records that `token` has `profile` at `nowMs` and returns the profile
   * with its quasi-identifiers generalised as far as k-anonymity needs.
   * Fields that are not quasi-identifiers pass unchanged.
   */
  apply(
    token: string,
    profile: Readonly<Record<string, string>>,
    nowMs: number,
  ): { profile: Record<string, string>; generalised: boolean } {
    const q = this.#quasi.filter((f) => profile[f] !== undefined);
    if (q.length === 0 || this.k <= 1) return { profile: { ...profile }, generalised: false };
    const cutoff = nowMs - this.#windowMs;
    this.#sweep(nowMs, cutoff);
    let keep = -1; // how many leading quasi-identifiers survive
    for (let level = q.length; level >= 0; level--) {
      const key = `${q.join(',')}|${q
        .slice(0, level)
        .map((f) => profile[f])
        .join('\u0000')}`;
      let cls = this.#classes.get(key);
      if (cls === undefined) this.#classes.set(key, (cls = new Map()));
      cls.delete(token);
      cls.set(token, nowMs);
      for (const [t, seen] of cls) {
        if (seen >= cutoff) break;
        cls.delete(t);
      }
      if (keep < 0 && cls.size >= this.k) keep = level;
    }
    const out = { ...profile };
    const survive = Math.max(keep, 0);
    for (let i = survive; i < q.length; i++) out[q[i]!] = OTHER;
    return { profile: out, generalised: survive < q.length };
  }

  /** Forgets classes with nobody in the window, once per window. */
  #sweep(nowMs: number, cutoff: number): void {
    if (nowMs < this.#nextSweepMs) return;
    this.#nextSweepMs = nowMs + this.#windowMs;
    for (const [key, cls] of this.#classes) {
      for (const [t, seen] of cls) {
        if (seen >= cutoff) break;
        cls.delete(t);
      }
      if (cls.size === 0) this.#classes.delete(key);
    }
  }

  /** Number of equivalence classes held (for a memory metric). */
  get classes(): number {
    return this.#classes.size;
  }
}
