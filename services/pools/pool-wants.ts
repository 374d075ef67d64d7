/**
 * What a token sends its pool's owner in `pools.want` (see pool-client.ts),
 * and the check of those params on the owner's side (role `node`): every
 * bad field is an InputError naming it and its value.
 */
import { invalidField } from '../../lib/index.ts';
import type { TokenWant } from '../../actors/index.ts';

/** A token's want as sent on the wire: its denials of the last step and its recent seconds come with it. */
export interface WireWant extends TokenWant {
  /** Requests of the token denied in the step just ended. */
  denied?: number;
  /**
   * The token's requests in each of its last complete seconds, oldest first
   * (at most lib `TREND_SECONDS`): the pool lifts its plan to their rising trend.
   */
  perSecond?: number[];
}

/** Most seconds a want may carry: a bound on the message (a token sends lib `TREND_SECONDS`). */
const MAX_PER_SECOND = 300;

/** Checks `pools.want` params: `{pool: string, wants: WireWant[]}`. */
export function checkWantParams(p: unknown): { pool: string; wants: WireWant[] } {
  const o = p as { pool?: unknown; wants?: unknown } | null;
  if (typeof o?.pool !== 'string' || o.pool === '') throw invalidField('pool', 'a pool name', o?.pool);
  if (!Array.isArray(o.wants)) throw invalidField('wants', 'a list of token wants', o.wants);
  o.wants.forEach((w: unknown, i) => {
    const x = w as Partial<WireWant> | null;
    if (typeof x?.token !== 'string') throw invalidField(`wants[${i}].token`, 'a token', x?.token);
    const wants = x.wants as Partial<WireWant['wants']> | undefined;
    for (const k of ['horizons', 'p10', 'p50', 'p90'] as const)
      if (!Array.isArray(wants?.[k]))
        throw invalidField(`wants[${i}].wants.${k}`, 'a list of numbers', wants?.[k]);
    const perSecond: unknown = x.perSecond;
    if (
      perSecond !== undefined &&
      !(
        Array.isArray(perSecond) &&
        perSecond.length <= MAX_PER_SECOND &&
        perSecond.every((n) => typeof n === 'number' && Number.isFinite(n) && n >= 0)
      )
    )
      throw invalidField(
        `wants[${i}].perSecond`,
        `a list of at most ${MAX_PER_SECOND} numbers >= 0`,
        perSecond,
      );
    const limit = x.limit as Partial<NonNullable<WireWant['limit']>> | null | undefined;
    if (limit !== undefined) {
      if (typeof limit?.rate !== 'number' || !(limit.rate > 0 && Number.isFinite(limit.rate)))
        throw invalidField(`wants[${i}].limit.rate`, 'a positive number', limit?.rate);
      if (typeof limit.periodMs !== 'number' || !(limit.periodMs > 0 && Number.isFinite(limit.periodMs)))
        throw invalidField(`wants[${i}].limit.periodMs`, 'a positive number', limit.periodMs);
    }
  });
  return o as { pool: string; wants: WireWant[] };
}
