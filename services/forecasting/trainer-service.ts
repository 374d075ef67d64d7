/**
 * The `trainer` Moleculer service: this node's trainer status, and train,
 * promote and rollback run on the cluster's elected trainer wherever the
 * call lands.
 */
import type { Context, ServiceSchema } from 'moleculer';
import { parseEmptyParams } from '../wire/index.ts';
import type { Guard } from '../wire/index.ts';
import { parseForecastErrorEvent, parsePromoteParams } from './forecasting-params.ts';
import { guardedAction, guardedEvent } from './guarded.ts';
import type { Trainer } from './trainer.ts';

/**
 * Runs a `trainer` action on the elected trainer: here when this node
 * trains (or is embedded), else forwarded once to the leader (a forwarded
 * call runs where it lands, so differing views cannot bounce it around).
 */
function onLeader<T>(trainer: Trainer, ctx: Context, action: string, local: () => Promise<T>): Promise<T> {
  if ((ctx.meta as { trainerForwarded?: boolean }).trainerForwarded === true) return local();
  const to = trainer.forwardTo();
  if (to === undefined) return local();
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
          onLeader(trainer, ctx, 'train', () => trainer.train('request')),
        ),
      },
      promote: {
        handler: action('promote', parsePromoteParams, ({ version }, ctx) =>
          onLeader(trainer, ctx, 'promote', () => trainer.promote(version)),
        ),
      },
      rollback: {
        handler: action('rollback', parseEmptyParams, (_p, ctx) =>
          onLeader(trainer, ctx, 'rollback', () => trainer.rollback()),
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
