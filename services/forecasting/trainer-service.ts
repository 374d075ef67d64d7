/**
 * The `trainer` Moleculer service: this node's trainer status, and train,
 * promote and rollback run on the cluster's elected trainer wherever the
 * call lands.
 */
import type { Context, ServiceSchema } from 'moleculer';
import { ErrorCode, StateError } from '../../lib/index.ts';
import { parseEmptyParams } from '../wire/index.ts';
import type { Guard } from '../wire/index.ts';
import { parseForecastErrorEvent, parsePromoteParams } from './forecasting-params.ts';
import { guardedAction, guardedEvent, refuseCall } from '../wire/index.ts';
import type { Trainer } from './trainer.ts';

/**
 * Runs a `trainer` action on the elected trainer: here when this node
 * trains (or is embedded), else forwarded once to the leader, with the
 * `trainerForwarded` meta flag.
 *
 * The flag only means "do not forward again" (so differing views cannot
 * bounce a call around); it never makes a node run what only the trainer
 * may. Any member with the `node` role can set it, and a packet's sender
 * (`ctx.nodeID`) is whatever its publisher wrote, so who sent it proves
 * nothing: a forwarded call runs only where this node is the trainer in
 * its own view, and is otherwise refused (counted by `guard`) with a
 * retryable HEADROOM_ERR_UNAVAILABLE, as while no trainer is elected; the
 * caller's retry finds the leader once the views agree.
 */
function onLeader<T>(
  trainer: Trainer,
  guard: Guard | undefined,
  ctx: Context,
  action: string,
  local: () => Promise<T>,
): Promise<T> {
  const forwarded = (ctx.meta as { trainerForwarded?: unknown }).trainerForwarded === true;
  let to: string | undefined;
  try {
    to = trainer.forwardTo();
  } catch (err) {
    // No trainer elected yet: refused as before, and counted when it came forwarded.
    if (forwarded) refuseCall(guard, ctx, `trainer.${action}`, err);
    throw err;
  }
  if (to === undefined) return local();
  if (forwarded) {
    const err = new StateError(
      ErrorCode.Unavailable,
      `trainer.${action} was forwarded to ${ctx.broker.nodeID}, which is not the elected trainer (${to} is, as this node sees it): try again`,
      { field: 'meta.trainerForwarded', value: true },
    );
    refuseCall(guard, ctx, `trainer.${action}`, err);
    return Promise.reject(err);
  }
  return ctx.call<T, unknown>(`trainer.${action}`, ctx.params, {
    nodeID: to,
    meta: { trainerForwarded: true },
  });
}

/**
 * The `trainer` service: status (this node's view), train, promote and
 * rollback (on the elected trainer); listens to `forecast.error`. Moleculer
 * actions: reachable by nodes only (role `node`, ops/nats/secure.conf).
 * Every action checks its params before it runs or is forwarded (status,
 * train and rollback take `{}`, promote `{version}`), and a bad
 * `forecast.error` is dropped: each refusal is counted by `guard` (the
 * node's; a service built alone counts into its broker's).
 */
export function trainerService(trainer: Trainer, guard?: Guard): ServiceSchema {
  const action = <P, R>(name: string, check: (params: unknown) => P, run: (p: P, ctx: Context) => R) =>
    guardedAction(guard, `trainer.${name}`, check, run);
  return {
    name: 'trainer',
    actions: {
      status: { handler: action('status', parseEmptyParams, () => trainer.status()) },
      train: {
        handler: action('train', parseEmptyParams, (_p, ctx) =>
          onLeader(trainer, guard, ctx, 'train', () => trainer.train('request')),
        ),
      },
      promote: {
        handler: action('promote', parsePromoteParams, ({ version }, ctx) =>
          onLeader(trainer, guard, ctx, 'promote', () => trainer.promote(version)),
        ),
      },
      rollback: {
        handler: action('rollback', parseEmptyParams, (_p, ctx) =>
          onLeader(trainer, guard, ctx, 'rollback', () => trainer.rollback()),
        ),
      },
    },
    events: {
      'forecast.error': {
        handler: guardedEvent(guard, 'forecast.error', parseForecastErrorEvent, ({ wape, n }) =>
          trainer.noteError(wape, n),
        ),
      },
    },
    started: () => trainer.start(),
    stopped: () => trainer.stop(),
  };
}
