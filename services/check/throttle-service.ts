/**
 * The `throttle` Moleculer service: the actions other nodes call on this
 * node's token actors (hand-off, describe, listing) and the membership
 * events that keep placement current. Takes and refunds, the per-check
 * messages, travel on the plain NATS link instead (owner-link.ts).
 *
 * Every action validates its params (services/wire) and answers a bad
 * call with a coded error, counted and logged (rate-limited) by the node's
 * Guard. The actions that change the cluster act only on what the
 * membership shows: a node may announce only its own leave, and hand over
 * only its own actors.
 */
import type { Context, ServiceSchema } from 'moleculer';
import { ErrorCode, InputError, invalidField } from '../../lib/index.ts';
import {
  MAX_NODE_ID_LENGTH,
  parseActorsParams,
  parseDescribeParams,
  parseEmptyParams,
  parseHandoffParams,
  parsePrepareLeaveParams,
  requireCaller,
  Refused,
} from '../wire/index.ts';
import { ACTOR_SERVICE } from '../cluster/index.ts';
import type { PlacementTracker } from '../cluster/index.ts';
import type { UnexpectedErrorCounts } from '../runtime/index.ts';
import type { ThrottleNode } from './throttle-node.ts';
import { parseLeaseAsk, parseLeaseReturn } from './lease-schema.ts';

/** How long a hand-off from a node this one does not list yet waits for its INFO. */
const MEET_WAIT_MS = 2000;

/** How long a node waits for a leaving node to confirm that it is leaving. */
const CONFIRM_LEAVE_MS = 1000;

/** The membership events Moleculer's registry raises, which keep placement current. */
export const MEMBERSHIP_EVENTS = ['$node.connected', '$node.disconnected', '$services.changed'] as const;
export type MembershipEvent = (typeof MEMBERSHIP_EVENTS)[number];

/**
 * Checks one of Moleculer's membership events; answers the node id it names
 * (`$node.*`) or undefined (`$services.changed`).
 *
 * Moleculer's registry raises these on this node only (`broadcastLocal`),
 * yet its transit hands any EVENT packet from the cluster's NATS to the
 * local handlers whatever the event's name, with whatever sender the packet
 * claims (so `ctx.nodeID` proves nothing). A packet's context always reads
 * `emit` or `broadcast`, never `broadcastLocal`: that is the one mark a
 * remote member cannot forge, and an event without it is refused. A local
 * one is checked too (`node.id` a node id), so a Moleculer change of shape
 * is refused and logged rather than thrown.
 * @throws InputError (HEADROOM_ERR_NOT_PERMITTED for a remote one, else
 *   HEADROOM_ERR_INVALID_FIELD) naming the field and the value.
 */
export function parseMembershipEvent(
  event: MembershipEvent,
  eventType: string | null | undefined,
  params: unknown,
): string | undefined {
  if (eventType !== 'broadcastLocal') {
    throw new InputError(
      ErrorCode.NotPermitted,
      `event ${event} must be raised by this node's own registry, got one sent as ${JSON.stringify(eventType ?? null)} by another member`,
      { field: 'eventType', value: eventType },
    );
  }
  // Not isPlainObject: Moleculer passes its registry's Node instance.
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;
  if (!isObject(params)) throw invalidField('params', `an object (the ${event} payload)`, params);
  if (event === '$services.changed') return undefined;
  const node = params['node'];
  if (!isObject(node)) throw invalidField('params.node', 'the node {id, ...}', node);
  const id = node['id'];
  if (typeof id !== 'string' || id.length === 0 || id.length > MAX_NODE_ID_LENGTH) {
    throw invalidField('params.node.id', `a node id of 1 to ${MAX_NODE_ID_LENGTH} characters`, id);
  }
  return id;
}

/** The Moleculer service around a ThrottleNode. */
export function throttleService(
  node: ThrottleNode,
  tracker: PlacementTracker,
  /** The process guard's counts; the reply says null when the node runs unguarded (in-process). */
  unexpectedErrors?: () => UnexpectedErrorCounts,
): ServiceSchema {
  const refresh = (): void => tracker.refresh();
  /** Whether `id` hosts token actors, re-reading the registry once if it seems not to (an event may lag). */
  const isLive = (id: string): boolean => {
    if (tracker.liveNodes.includes(id)) return true;
    tracker.refresh();
    return tracker.liveNodes.includes(id);
  };
  /** Waits (at most {@link MEET_WAIT_MS}) until `id` hosts token actors as this node sees it. */
  const becomesLive = async (id: string): Promise<void> => {
    const until = Date.now() + MEET_WAIT_MS;
    while (!isLive(id) && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  };
  /**
   * Checks a call (params, and who may make it) and runs it; a call the
   * check refuses is counted and logged before its coded error goes back.
   */
  const guarded =
    <P, R>(
      action: string,
      check: (ctx: Context<unknown>) => P | Promise<P>,
      run: (p: P, ctx: Context<unknown>) => R,
    ) =>
    async (ctx: Context<unknown>): Promise<Awaited<R>> => {
      let p: P;
      try {
        p = await check(ctx);
      } catch (err) {
        node.guard.refuse(
          Refused.Call,
          `${ACTOR_SERVICE}.${action} from ${String(ctx.nodeID)}: ${(err as Error).message}`,
        );
        throw err;
      }
      return await run(p, ctx);
    };
  /**
   * A membership event's handler: checks it ({@link parseMembershipEvent});
   * one that fails is counted and logged by the node's Guard and dropped
   * (an event has no reply), else `run` gets the node id it names.
   */
  const membership =
    (event: MembershipEvent, run: (nodeID: string | undefined) => void) =>
    (ctx: Context<unknown>): void => {
      let id: string | undefined;
      try {
        id = parseMembershipEvent(event, ctx.eventType, ctx.params);
      } catch (err) {
        node.guard.refuse(
          Refused.Call,
          `event ${event} from ${String(ctx.nodeID)} dropped: ${(err as Error).message}`,
        );
        return;
      }
      run(id);
    };
  /** A leave is believed only when the leaving node itself says so, asked on its own subject. */
  const confirmLeave = async (ctx: Context<unknown>, nodeID: string): Promise<void> => {
    if (nodeID === ctx.broker.nodeID) return;
    const says = await ctx.broker
      .call<boolean, Record<string, never>>(
        `${ACTOR_SERVICE}.leaving`,
        {},
        { nodeID, timeout: CONFIRM_LEAVE_MS },
      )
      .catch(() => false);
    if (says !== true) {
      throw new InputError(
        ErrorCode.NotPermitted,
        `params.nodeID must be a node that is leaving, got ${JSON.stringify(nodeID)}: it does not say so itself`,
        { field: 'params.nodeID', value: nodeID },
      );
    }
  };
  return {
    name: ACTOR_SERVICE,
    actions: {
      /**
       * Role `node`: actors handed over by the calling node (`from` must be
       * the caller, a live member).
       */
      receive: {
        handler: guarded(
          'receive',
          async (ctx) => {
            const params = parseHandoffParams(ctx.params);
            // A node that has just met this one hands over before this one has its INFO: wait a little.
            await becomesLive(params.from);
            requireCaller(ctx.nodeID, params.from, isLive, 'params.from');
            return params;
          },
          (params) => node.receive(params),
        ),
      },
      /**
       * Role `node`: the calling node announces its own leave. Believed only
       * when `nodeID` is the caller, a live member, and that node itself
       * confirms it is leaving (`throttle.leaving`): a Moleculer packet's
       * sender is whatever its publisher wrote.
       */
      prepareLeave: {
        handler: guarded(
          'prepareLeave',
          async (ctx) => {
            const { nodeID } = parsePrepareLeaveParams(ctx.params);
            requireCaller(ctx.nodeID, nodeID, isLive, 'params.nodeID');
            await confirmLeave(ctx, nodeID);
            return nodeID;
          },
          (nodeID) => {
            node.prepareLeave(nodeID);
            return true;
          },
        ),
      },
      /** Role `node`: whether this node is leaving (asked before another node believes its leave). */
      leaving: {
        handler: guarded(
          'leaving',
          (ctx) => parseEmptyParams(ctx.params),
          () => node.handoff.leaving,
        ),
      },
      /** Role `node`: a client's lease another node relays to this one, the token's owner (lease-desk.ts). */
      lease: {
        handler: guarded(
          'lease',
          (ctx) => parseLeaseAsk(ctx.params),
          (ask) => node.lease(ask),
        ),
      },
      /** Role `node`: a slice this node granted, given back through another node. */
      leaseReturn: {
        handler: guarded(
          'leaseReturn',
          (ctx) => ({ ...parseLeaseReturn(ctx.params, 'params'), node: ctx.broker.nodeID }),
          (ret) => node.leaseReturn(ret),
        ),
      },
      /** Role `node` (the REPL, `hr-token`): one token's state on this node. */
      describe: {
        handler: guarded(
          'describe',
          (ctx) => parseDescribeParams(ctx.params),
          (p) => node.describe(p.token),
        ),
      },
      /** Role `node` (status, the REPL): this node's actors and what it refused from inside the cluster. */
      actors: {
        handler: guarded(
          'actors',
          (ctx) => parseActorsParams(ctx.params),
          ({ limit }, ctx) => ({
            id: ctx.broker.nodeID,
            actors: node.host.size,
            tokens: node.host.keys(limit),
            stats: { ...node.host.stats(), ...node.stats() },
            ownership: node.ownershipStatus(),
            unexpectedErrors: unexpectedErrors?.() ?? null,
          }),
        ),
      },
    },
    // Each only re-reads the registry (and a (re)joined node's suspicion is
    // forgotten): what they name is Moleculer's own, never a remote member's
    // (parseMembershipEvent), so a forged one can neither bring a leaving or
    // suspected node back nor cost a re-read.
    events: {
      '$node.connected': {
        handler: membership('$node.connected', (id) => {
          if (id !== undefined) tracker.forget(id);
          refresh();
        }),
      },
      '$node.disconnected': { handler: membership('$node.disconnected', refresh) },
      '$services.changed': { handler: membership('$services.changed', refresh) },
    },
    started() {
      refresh();
    },
  };
}
