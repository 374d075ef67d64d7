/**
 * The `trainer` Moleculer service: this node's trainer status, and train,
 * promote and rollback run on the cluster's elected trainer wherever the
 * call lands.
 */
import type { Context, ServiceSchema } from 'moleculer';
import { ErrorCode, InputError } from '../../lib/index.ts';
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
 */
export function trainerService(trainer: Trainer): ServiceSchema {
  return {
    name: 'trainer',
    actions: {
      status: { handler: () => trainer.status() },
      train: { handler: (ctx: Context) => onLeader(trainer, ctx, 'train', () => trainer.train('request')) },
      promote: {
        handler: (ctx: Context<{ version: string }>) => {
          if (typeof ctx.params?.version !== 'string') {
            throw new InputError(ErrorCode.MissingField, 'params.version is required, e.g. "v000001"', {
              field: 'version',
            });
          }
          const version = ctx.params.version;
          return onLeader(trainer, ctx, 'promote', () => trainer.promote(version));
        },
      },
      rollback: { handler: (ctx: Context) => onLeader(trainer, ctx, 'rollback', () => trainer.rollback()) },
    },
    events: {
      'forecast.error': {
        handler: (ctx: Context<{ wape: number; n: number }>) =>
          trainer.noteError(ctx.params.wape, ctx.params.n),
      },
    },
    started: () => trainer.start(),
    stopped: () => trainer.stop(),
  };
}
