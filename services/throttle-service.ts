/**
 * The `throttle` Moleculer service: the actions other nodes call on this
 * node's token actors (hand-off, describe, listing) and the membership
 * events that keep placement current. Takes and refunds, the per-check
 * messages, travel on the plain NATS link instead (owner-link.ts).
 */
import type { Context, ServiceSchema } from 'moleculer';
import { ACTOR_SERVICE } from './placement-tracker.ts';
import type { PlacementTracker } from './placement-tracker.ts';
import type { ThrottleNode } from './throttle-node.ts';
import type { HandoffParams } from './wire.ts';

/** The Moleculer service around a ThrottleNode. */
export function throttleService(node: ThrottleNode, tracker: PlacementTracker): ServiceSchema {
  const refresh = (): void => tracker.refresh();
  return {
    name: ACTOR_SERVICE,
    actions: {
      receive: { handler: (ctx: Context<HandoffParams>) => node.receive(ctx.params) },
      prepareLeave: {
        handler: (ctx: Context<{ nodeID: string }>) => {
          node.prepareLeave(ctx.params.nodeID);
          return true;
        },
      },
      describe: { handler: (ctx: Context<{ token: string }>) => node.describe(ctx.params.token) },
      actors: {
        handler: (ctx: Context<{ limit?: number }>) => ({
          id: ctx.broker.nodeID,
          actors: node.host.size,
          tokens: node.host.keys().slice(0, ctx.params.limit ?? 20),
          stats: node.host.stats(),
        }),
      },
    },
    events: {
      '$node.connected': {
        handler(ctx: Context<{ node: { id: string } }>) {
          tracker.forget(ctx.params.node.id);
          refresh();
        },
      },
      '$node.disconnected': refresh,
      '$services.changed': refresh,
    },
    started() {
      refresh();
    },
  };
}
