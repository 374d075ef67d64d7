/**
 * A token's capacity lease (lib/allocation `Lease`) as the token applies it:
 * the lease's rate is in requests per the rule's period, like the rule's own
 * rate, so it replaces the GCRA rate as it is while the lease is valid; its
 * burst, when it carries one, replaces the rule's burst, never below it.
 */
import { effectiveLimit, invalidField } from '../lib/index.ts';
import type { CompiledRule, Lease } from '../lib/index.ts';

/** How a lease's rate is read and how it decays, from {@link TokenActor.setLease}. */
export interface LeaseTerms {
  /** After the lease expires, the limit moves back to the rule's over this long. */
  decayMs: number;
  /** The pool's step: how often the lease is renewed (the rate is per the rule's period). */
  stepMs: number;
}

/** @throws InputError when the rate or the terms are not usable. */
export function checkLease(lease: Lease, terms: LeaseTerms): void {
  if (!(Number.isFinite(lease.rate) && lease.rate >= 0))
    throw invalidField('lease.rate', 'a finite number >= 0', lease.rate);
  if (!Number.isFinite(lease.expiresAtMs))
    throw invalidField('lease.expiresAtMs', 'a time', lease.expiresAtMs);
  if (lease.burst !== undefined && !(Number.isFinite(lease.burst) && lease.burst >= 1))
    throw invalidField('lease.burst', 'a finite number >= 1', lease.burst);
  if (!(Number.isFinite(terms.stepMs) && terms.stepMs > 0))
    throw invalidField('lease.stepMs', 'a positive number', terms.stepMs);
  if (!(Number.isFinite(terms.decayMs) && terms.decayMs >= 0))
    throw invalidField('lease.decayMs', 'a finite number >= 0', terms.decayMs);
}

/**
 * The limit in force at `now` under `held`: the lease's rate (per the rule's
 * period) while valid, then decaying back to the rule's own rate (lib
 * `effectiveLimit`); same period. The burst is the lease's (lib
 * `leaseBurst`), scaled with the rate as it decays, and never below the
 * rule's; a lease without one keeps the rule's burst.
 */
export function leasedLimit(
  base: CompiledRule['limit'],
  held: { lease: Lease; terms: LeaseTerms },
  now: number,
): CompiledRule['limit'] {
  const { lease } = held;
  const rate = effectiveLimit(base.rate, lease, now, held.terms.decayMs);
  // The lease's burst is its rate times a tolerance in time; that time holds as the rate decays.
  const burst =
    lease.burst === undefined || !(lease.rate > 0)
      ? base.burst
      : Math.max(base.burst, (lease.burst * rate) / lease.rate);
  // A rate of 0 (a starved lease) would make GCRA's emission interval infinite; keep a sliver.
  return { ...base, rate: Math.max(rate, 1e-9), burst };
}
