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
/** Most wants in one call (a node sends all its tokens' wants of a step: at most its actors). */
export const MAX_WANTS = 100_000;
/** Most horizons a want may carry (a node sends its forecaster's three). */
const MAX_HORIZONS = 32;
/** Longest token or pool name accepted. */
const MAX_NAME = 1024;

/** Whether `v` is a finite number >= 0. */
function amount(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0;
}

/**
 * Checks `pools.want` params: `{pool: string, wants: WireWant[]}`, every
 * field the pool reads typed and bounded (a member of the cluster sends
 * them; a bad one must not reach the plan as NaN).
 */
export function checkWantParams(p: unknown): { pool: string; wants: WireWant[] } {
  const o = p as { pool?: unknown; wants?: unknown } | null;
  if (typeof o?.pool !== 'string' || o.pool === '' || o.pool.length > MAX_NAME)
    throw invalidField('pool', 'a pool name', o?.pool);
  if (!Array.isArray(o.wants) || o.wants.length > MAX_WANTS)
    throw invalidField('wants', `a list of at most ${MAX_WANTS} token wants`, o.wants);
  o.wants.forEach((w: unknown, i) => {
    if (typeof w !== 'object' || w === null || Array.isArray(w))
      throw invalidField(`wants[${i}]`, 'a token want (an object)', w);
    const x = w as Partial<WireWant>;
    if (typeof x.token !== 'string' || x.token === '' || x.token.length > MAX_NAME)
      throw invalidField(`wants[${i}].token`, 'a token', x.token);
    if (typeof x.priority !== 'number' || !(x.priority > 0 && Number.isFinite(x.priority)))
      throw invalidField(`wants[${i}].priority`, 'a positive number', x.priority);
    const wants = x.wants as Partial<WireWant['wants']> | null | undefined;
    if (typeof wants !== 'object' || wants === null || Array.isArray(wants))
      throw invalidField(`wants[${i}].wants`, 'the quantiles per horizon (an object)', wants);
    const horizons = wants.horizons;
    if (!Array.isArray(horizons) || horizons.length > MAX_HORIZONS)
      throw invalidField(`wants[${i}].wants.horizons`, `a list of at most ${MAX_HORIZONS} numbers`, horizons);
    for (const k of ['horizons', 'p10', 'p50', 'p90'] as const) {
      const list = wants[k];
      if (!Array.isArray(list) || list.length !== horizons.length || !list.every(amount))
        throw invalidField(
          `wants[${i}].wants.${k}`,
          `a list of ${horizons.length} numbers >= 0 (one per horizon)`,
          list,
        );
    }
    for (const k of ['actual', 'denied'] as const)
      if (x[k] !== undefined && !amount(x[k])) throw invalidField(`wants[${i}].${k}`, 'a number >= 0', x[k]);
    const perSecond: unknown = x.perSecond;
    if (
      perSecond !== undefined &&
      !(Array.isArray(perSecond) && perSecond.length <= MAX_PER_SECOND && perSecond.every(amount))
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
      if (
        limit.burst !== undefined &&
        (typeof limit.burst !== 'number' || !(limit.burst >= 1 && Number.isFinite(limit.burst)))
      )
        throw invalidField(`wants[${i}].limit.burst`, 'a number >= 1', limit.burst);
    }
  });
  return o as { pool: string; wants: WireWant[] };
}
