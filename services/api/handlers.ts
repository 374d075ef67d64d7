/**
 * The v1 API's operations, shared by the NATS and HTTP front ends. Each takes
 * the decoded body and returns the reply object; `handle` turns any failure
 * into the structured `{error}` reply, so a bad request never stops a node.
 */
import type { ServiceBroker } from 'moleculer';
import type { Context as OtelContext } from '@opentelemetry/api';
import {
  ErrorCode,
  InputError,
  StateError,
  batchColumns,
  parseBatchRequest,
  parseCheckRequest,
  parseEmptyRequest,
  parseEvent,
  parseEventQuery,
  parseIdRequest,
  parseJsonPayload,
  parseRule,
  toHeadroomError,
} from '../../lib/index.ts';
import type { Clock, ErrorBody } from '../../lib/index.ts';
import { COLLECTION_SERVICE } from '../collection/index.ts';
import type { CollectionStats, EventsApi } from '../collection/index.ts';
import {
  parseLeaseBatch,
  parseLeaseRequest,
  parseLeaseReturn,
  parseLeaseReturnBatch,
} from '../check/index.ts';
import type { Gateway, OwnershipStatus } from '../check/index.ts';
import { ACTOR_SERVICE } from '../cluster/index.ts';
import type { PlacementTracker } from '../cluster/index.ts';
import { emptyGuardStats } from '../wire/index.ts';
import type { GuardStats } from '../wire/index.ts';
import { poolOverview } from '../pools/index.ts';
import { forecastGet } from '../forecasting/index.ts';
import type { PoolOverview, PoolStatus } from '../pools/index.ts';
import type { UnexpectedErrorCounts } from '../runtime/index.ts';
import type { RuleChange, RuleStore } from '../rules/index.ts';
import { topologyOf } from './topology.ts';
import type { Topology } from './topology.ts';

/**
 * Every operation, served on NATS as `headroom.v1.<op>` and over HTTP. Roles
 * (ops/nats/secure.conf): `client` may use check, check.batch, status,
 * rules.get, rules.list, events.list and forecast.get; `admin` all of those plus
 * rules.put, rules.delete, events.publish and rules.history (a rule's
 * revisions, with their times: the audit trail). `topology` (client and
 * admin: what a client needs to route checks to owners, topology.ts) is
 * served on NATS only, as are `lease`, `lease.batch`, `lease.return` and
 * `lease.return.batch` (client and admin: client leases,
 * services/check/lease-desk.ts).
 */
export const Operation = [
  'check',
  'check.batch',
  'rules.put',
  'rules.get',
  'rules.list',
  'rules.delete',
  'rules.history',
  'status',
  'events.publish',
  'events.list',
  'topology',
  'forecast.get',
  'lease',
  'lease.batch',
  'lease.return',
  'lease.return.batch',
] as const;
export type Operation = (typeof Operation)[number];

export interface ApiDeps {
  broker: ServiceBroker;
  gateway: Gateway;
  rules: RuleStore;
  tracker: PlacementTracker;
  /** External event feeds; absent answers Unavailable. */
  events?: EventsApi;
  maxPayloadBytes: number;
  /** "Now" for the window an event's time must lie in (lib/events.ts). */
  clock: Clock;
}

export interface StatusNode {
  id: string;
  actors: number | null;
  /**
   * The node's collection counters (collector, batcher and spool), or null
   * when it collects nothing (store none) or did not answer for them.
   */
  collection: CollectionStats | null;
  /**
   * Unhandled rejections and uncaught exceptions the node's process guard
   * caught (services/runtime/process-guard.ts); null for a node that runs unguarded
   * (in-process) or did not answer.
   */
  unexpectedErrors: UnexpectedErrorCounts | null;
  /**
   * What the node refused from inside the cluster (services/wire/guard.ts): forged
   * refunds, malformed link messages and replies, refused Moleculer calls;
   * null when it did not answer.
   */
  refused: GuardStats | null;
  /**
   * Where the node stands on token ownership (services/cluster/ownership.ts):
   * its view of the live nodes, until when tokens it starts may be fenced
   * after a membership change (its learning time), the hand-offs it awaits;
   * null when it did not answer.
   */
  ownership: OwnershipStatus | null;
  error?: string;
}

/** Where a front end's client can be answered from another node (see Gateway.checkOne). */
export interface ReplyRoute {
  /** The NATS reply subject of the client's request. */
  replyTo: string;
  /** Answers the client from this node after all (the other node was gone). */
  bounce: () => void;
}

type Handler = (body: unknown, trace: OtelContext, route?: ReplyRoute) => Promise<unknown>;

export class Api {
  readonly #deps: ApiDeps;
  readonly #ops: Record<Operation, Handler>;

  constructor(deps: ApiDeps) {
    this.#deps = deps;
    this.#ops = {
      check: async (body, trace, route) => {
        const req = parseCheckRequest(body);
        return route === undefined
          ? (await deps.gateway.check([req], trace))[0]
          : await deps.gateway.checkOne(req, trace, route.replyTo, route.bounce);
      },
      'check.batch': async (body, trace) => {
        const { requests, columns } = parseBatchRequest(body);
        const results = await deps.gateway.check(requests, trace);
        return columns ? { columns: batchColumns(results) } : { results };
      },
      'rules.put': async (body) => {
        const { rule, ...change } = await deps.rules.put(parseRule(body));
        this.#audit('put', rule.id, change);
        return { rule };
      },
      'rules.get': async (body) => {
        const id = parseIdRequest(body);
        const rule = deps.rules.get(id);
        if (rule === undefined) {
          throw new InputError(ErrorCode.NotFound, `id names no rule, got ${JSON.stringify(id)}`, {
            field: 'id',
            value: id,
          });
        }
        return { rule };
      },
      'rules.list': async (body) => {
        parseEmptyRequest(body);
        return { rules: [...deps.rules.list()].sort((a, b) => a.id.localeCompare(b.id)) };
      },
      'rules.delete': async (body) => {
        const id = parseIdRequest(body);
        const change = await deps.rules.delete(id);
        if (change !== null) this.#audit('delete', id, change);
        return { deleted: change !== null };
      },
      // Role admin on NATS (the read token over HTTP: it changes nothing).
      'rules.history': async (body) => {
        const id = parseIdRequest(body);
        const history = await deps.rules.history(id);
        if (history.length === 0) {
          throw new InputError(
            ErrorCode.NotFound,
            `id names no rule, now or before, got ${JSON.stringify(id)}`,
            { field: 'id', value: id },
          );
        }
        return { id, history };
      },
      status: async (body) => {
        parseEmptyRequest(body);
        const [nodes, pools] = await Promise.all([this.status(), this.pools()]);
        return { nodes, pools };
      },
      'events.publish': async (body) => {
        const event = parseEvent(body, deps.clock.now());
        return await this.#events().publish(event);
      },
      'events.list': async (body) => ({ events: await this.#events().list(parseEventQuery(body)) }),
      // Role client: a token's current forecast with the model that made it (services/forecasting/forecast-get.ts).
      'forecast.get': async (body) =>
        await forecastGet(
          {
            broker: deps.broker,
            rules: () => deps.rules.list(),
            owner: (token) => deps.tracker.owner(token),
            clock: deps.clock,
            actorService: ACTOR_SERVICE,
          },
          body,
        ),
      topology: async (body) => {
        parseEmptyRequest(body);
        return this.topology();
      },
      lease: async (body) => await deps.gateway.leases.lease(parseLeaseRequest(body)),
      // Each ask as `lease` runs it, all at once; a failed ask's result is the error reply `lease`
      // would have sent for it, so one owner that grants nothing costs the others nothing.
      'lease.batch': async (body) => ({
        results: await Promise.all(
          parseLeaseBatch(body).map((req) =>
            deps.gateway.leases.lease(req).catch((err: unknown) => this.#errorReply('lease.batch', err)),
          ),
        ),
      }),
      'lease.return': async (body) => await deps.gateway.leases.giveBack(parseLeaseReturn(body)),
      // Each return as `lease.return` runs it (a return of another node's slice is relayed there, as
      // that one is), all at once; a failed return's result is the error reply it would have had.
      'lease.return.batch': async (body) => ({
        results: await Promise.all(
          parseLeaseReturnBatch(body).map((ret) =>
            deps.gateway.leases
              .giveBack(ret)
              .catch((err: unknown) => this.#errorReply('lease.return.batch', err)),
          ),
        ),
      }),
    };
  }

  /** This node's id (the per-node subjects, `headroom.v1.node.<id>.*`, name it). */
  get nodeId(): string {
    return this.#deps.broker.nodeID;
  }

  /** This node's placement view and rules, for clients that route checks to owners (topology.ts). */
  topology(): Topology {
    const { broker, tracker, rules } = this.#deps;
    return topologyOf(broker.nodeID, tracker.placement.nodes, rules.list());
  }

  /**
   * The one audit line of a rule change, as JSON at info level through the
   * broker's logger: `{"audit":"rule", op, id, previousRevision, revision, node,
   * "event":"rule-change"}` (the JSON logger lifts the fields onto the line).
   */
  #audit(op: 'put' | 'delete', id: string, change: RuleChange): void {
    const { broker } = this.#deps;
    const { previousRevision, revision } = change;
    broker.logger.info(
      JSON.stringify({
        audit: 'rule',
        op,
        id,
        previousRevision,
        revision,
        node: broker.nodeID,
        event: 'rule-change',
      }),
    );
  }

  #events(): EventsApi {
    const events = this.#deps.events;
    if (events === undefined) {
      throw new StateError(ErrorCode.Unavailable, 'this node keeps no events', { field: 'subject' });
    }
    return events;
  }

  /**
   * Runs one operation on a raw payload; never throws. With `route`, a check
   * may be answered by another node: the result is then {@link FORWARDED}
   * and the caller sends nothing.
   */
  async handle(
    op: string,
    payload: Uint8Array | string,
    trace: OtelContext,
    route?: ReplyRoute,
  ): Promise<unknown> {
    try {
      const handler = (this.#ops as Record<string, Handler | undefined>)[op];
      if (handler === undefined) {
        throw new InputError(
          ErrorCode.NotFound,
          `operation must be one of ${Operation.join(', ')}, got ${JSON.stringify(op)}`,
          {
            field: 'subject',
            value: op,
          },
        );
      }
      return await handler(parseJsonPayload(payload, this.#deps.maxPayloadBytes), trace, route);
    } catch (err) {
      return this.#errorReply(op, err);
    }
  }

  #errorReply(op: string, err: unknown): { error: ErrorBody } {
    const e = toHeadroomError(err);
    if (e.code === ErrorCode.Internal) this.#deps.broker.logger.error(`${op} failed:`, err);
    return { error: e.toBody() };
  }

  /**
   * Every live node with its live actor count and collection counters; a
   * node that does not answer is listed with its error.
   */
  async status(): Promise<StatusNode[]> {
    const { broker, tracker } = this.#deps;
    const ids = new Set([...tracker.liveNodes, broker.nodeID]);
    return await Promise.all(
      [...ids].sort().map(async (id): Promise<StatusNode> => {
        const opts = { nodeID: id, timeout: 1000 };
        // Asked beside the actor count; a node without the action (an older
        // version) still lists its actors.
        const collection = broker
          .call<CollectionStats | null, Record<string, never>>(`${COLLECTION_SERVICE}.stats`, {}, opts)
          .catch(() => null);
        try {
          const r = await broker.call<
            {
              actors: number;
              unexpectedErrors?: UnexpectedErrorCounts | null;
              stats?: Partial<GuardStats>;
              ownership?: OwnershipStatus;
            },
            { limit: number }
          >(`${ACTOR_SERVICE}.actors`, { limit: 0 }, opts);
          return {
            id,
            actors: r.actors,
            collection: await collection,
            unexpectedErrors: r.unexpectedErrors ?? null,
            refused: refusedOf(r.stats),
            ownership: r.ownership ?? null,
          };
        } catch (err) {
          const error = (err as Error).message;
          return {
            id,
            actors: null,
            collection: await collection,
            unexpectedErrors: null,
            refused: null,
            ownership: null,
            error,
          };
        }
      }),
    );
  }

  /**
   * Every resource pool with its owner, units, demand and forecast (the
   * `pools` service, this node's when it runs one); [] when no node runs
   * pools, null when they could not be read (logged).
   */
  async pools(): Promise<PoolOverview[] | null> {
    const { broker } = this.#deps;
    // No node runs pools: [] without a call (Moleculer would log a warning per call).
    if (!broker.registry.actions.isAvailable('pools.status')) return [];
    try {
      const all = await broker.call<PoolStatus[], Record<string, never>>(
        'pools.status',
        {},
        { timeout: POOLS_STATUS_TIMEOUT_MS },
      );
      return all.map(poolOverview);
    } catch (err) {
      const name = (err as Error).name;
      if (name === 'ServiceNotFoundError' || name === 'ServiceNotAvailableError') return [];
      broker.logger.warn(`status: pools not read: ${(err as Error).message}`);
      return null;
    }
  }
}

/** How long status waits for the pools (their owners answer within it, or are listed with an error). */
const POOLS_STATUS_TIMEOUT_MS = 3000;

/** The Guard's counters out of a `throttle.actors` reply's stats; null from a node that keeps none. */
function refusedOf(stats: Partial<GuardStats> | undefined): GuardStats | null {
  if (stats?.refundsRejected === undefined) return null;
  const out = emptyGuardStats();
  for (const k of Object.keys(out) as Array<keyof GuardStats>) out[k] = stats[k] ?? 0;
  return out;
}

export type { ErrorBody };
