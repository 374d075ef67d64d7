/**
 * How the node-only services refuse what another member sends them (the
 * forecasting services, the events service), as `throttle` and `pools` do: a call whose params fail their
 * check is counted and logged (rate-limited, once per kind every 10 s) by
 * the node's Guard, and its coded error goes back to the caller; an event
 * has no reply, so a bad one is counted, logged and dropped. Either way
 * the node goes on.
 */
import type { Context } from 'moleculer';
import { SystemClock } from '../../lib/index.ts';
import { Refused, guardOf } from './guard.ts';
import type { Guard } from './guard.ts';

const wallClock = new SystemClock();

/**
 * The Guard a service counts into: the one it was given (the node's,
 * setupForecasting), else its broker's own (a service built alone, as
 * tests do), on the wall clock like the node's.
 */
function guardFor(guard: Guard | undefined, ctx: Context<unknown>): Guard {
  return guard ?? guardOf(ctx.broker, wallClock);
}

/** Counts (and logs, rate-limited) a call refused with `err`. */
export function refuseCall(
  guard: Guard | undefined,
  ctx: Context<unknown>,
  action: string,
  err: unknown,
): void {
  guardFor(guard, ctx).refuse(
    Refused.Call,
    `${action} from ${String(ctx.nodeID)}: ${(err as Error).message}`,
  );
}

/**
 * An action handler that runs `check` on the params first; a call it
 * refuses is counted under {@link Refused.Call} before the error is thrown.
 */
export function guardedAction<P, R>(
  guard: Guard | undefined,
  action: string,
  check: (params: unknown) => P,
  run: (p: P, ctx: Context<unknown>) => R,
): (ctx: Context<unknown>) => R {
  return (ctx) => {
    let p: P;
    try {
      p = check(ctx.params);
    } catch (err) {
      refuseCall(guard, ctx, action, err);
      throw err;
    }
    return run(p, ctx);
  };
}

/**
 * An event handler that runs `check` on the params first; an event it
 * refuses is counted under {@link Refused.Call} (a Moleculer message that
 * failed its check) and dropped, never thrown: the sender gets no reply to
 * read an error from, and the event must have no effect.
 */
export function guardedEvent<P>(
  guard: Guard | undefined,
  event: string,
  check: (params: unknown) => P,
  run: (p: P, ctx: Context<unknown>) => void | Promise<void>,
): (ctx: Context<unknown>) => void | Promise<void> {
  return (ctx) => {
    let p: P;
    try {
      p = check(ctx.params);
    } catch (err) {
      guardFor(guard, ctx).refuse(
        Refused.Call,
        `event ${event} from ${String(ctx.nodeID)} dropped: ${(err as Error).message}`,
      );
      return;
    }
    return run(p, ctx);
  };
}
