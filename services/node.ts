/**
 * Assembles one Headroom node: a Moleculer broker (NATS transporter, or the
 * local one when embedded), the rule store, the token actors, the gateway and
 * the API front ends. `stop()` is the graceful leave: stop taking requests,
 * hand every actor to its new owner, then leave the cluster.
 */
import { ServiceBroker } from 'moleculer';
import type { BrokerOptions } from 'moleculer';
import { connect } from 'nats';
import type { NatsConnection } from 'nats';
import { RuleSet, SystemClock, compileRule } from '../lib/index.ts';
import type { Clock } from '../lib/index.ts';
import { Api } from './api/handlers.ts';
import { startHttpApi } from './api/http-api.ts';
import type { HttpApi } from './api/http-api.ts';
import { NatsApi } from './api/nats-api.ts';
import { OwnerLink } from './owner-link.ts';
import { createCollection } from './collection.ts';
import type { Collection } from './collection.ts';
import { setupForecasting } from './forecasting.ts';
import type { Forecasting } from './forecasting.ts';
import { Gateway } from './gateway.ts';
import type { NodeOptions } from './node-options.ts';
import { PlacementTracker } from './placement-tracker.ts';
import { setupPools } from './pools-setup.ts';
import type { PoolsSetup } from './pools-setup.ts';
import { replCommands } from './repl-commands.ts';
import { FileRuleStore } from './rules/file-rule-store.ts';
import { KvRuleStore } from './rules/kv-rule-store.ts';
import type { RuleStore } from './rules/rule-store.ts';
import { initTelemetry } from './telemetry.ts';
import { ThrottleNode } from './throttle-node.ts';
import { throttleService } from './throttle-service.ts';

export interface HeadroomNode {
  readonly nodeId: string;
  readonly broker: ServiceBroker;
  readonly api: Api;
  readonly throttle: ThrottleNode;
  readonly rules: RuleStore;
  /** Behavioural data collection (store, batcher, collector, events). */
  readonly collection: Collection;
  /** Forecasting (services, trainer, cadence); undefined with option `forecast` off. */
  readonly forecasting: Forecasting | undefined;
  /** Live allocation (pools, leases); undefined when option `poolsFile` is null. */
  readonly pools: PoolsSetup | undefined;
  /** Base URL of the HTTP API, when it runs. */
  readonly httpUrl: string | undefined;
  /** Graceful leave; safe to call twice. */
  stop(): Promise<void>;
}

export interface StartNodeExtras {
  /** Broker options from moleculer.config.ts; Headroom's own settings win. */
  broker?: BrokerOptions;
  clock?: Clock;
}

export async function startNode(
  options: Readonly<NodeOptions>,
  extras: StartNodeExtras = {},
): Promise<HeadroomNode> {
  const clock = extras.clock ?? new SystemClock();
  const telemetry = initTelemetry(options.nodeId);
  const heartbeatS = Math.max(1, Math.round(options.heartbeatMs / 1000));
  const broker = new ServiceBroker({
    logLevel: options.logLevel,
    ...extras.broker,
    namespace: options.namespace,
    nodeID: options.nodeId,
    transporter: options.natsUrl === null ? null : { type: 'NATS', options: { url: options.natsUrl } },
    heartbeatInterval: heartbeatS,
    heartbeatTimeout: heartbeatS * 3,
    tracing: false,
    skipProcessEventRegistration: true,
    replOptions: { customCommands: replCommands() },
  });

  let nc: NatsConnection | undefined;
  const stops: Array<() => Promise<void>> = [];
  try {
    if (options.natsUrl !== null) {
      nc = await connect({
        servers: options.natsUrl.split(','),
        name: `headroom-api-${options.nodeId}`,
        // No stack captured per request: it cost more than the check itself (bench/check-nats.ts).
        noAsyncTraces: true,
      });
    }
    const rules: RuleStore =
      nc === undefined
        ? new FileRuleStore(options.dataDir)
        : new KvRuleStore(nc, options.rulesBucket, broker.logger);
    let ruleSet = new RuleSet([]);
    await rules.start((specs) => {
      ruleSet = new RuleSet(specs.map(compileRule));
    });
    stops.push(() => rules.stop());

    const collection = await createCollection(options, broker, clock);
    // Closed after the hand-off (below); pushed now so a failed start closes it too.
    stops.push(() => collection.close());

    const tracker = new PlacementTracker(broker, clock);
    const link = nc === undefined ? undefined : new OwnerLink(nc, options.namespace);
    const throttle = new ThrottleNode({
      ...(link === undefined ? {} : { link }),
      broker,
      ...(collection.collector === undefined ? {} : { observer: collection.collector }),
      tracker,
      clock,
      idleMs: options.actorIdleMs,
      maxActors: options.maxActors,
      ownerTimeoutMs: options.ownerTimeoutMs,
    });
    broker.createService(throttleService(throttle, tracker));
    if (link !== undefined) {
      // Serving before the broker announces this node, so no take finds it deaf.
      link.serve(options.nodeId, throttle);
      stops.push(() => link.close());
    }
    const forecasting = await setupForecasting(options, broker, clock, throttle, collection);
    const pools = await setupPools(options, broker, clock, throttle, tracker, collection);
    await broker.start();
    stops.unshift(async () => {
      await throttle.leave();
      await broker.stop();
      // The leave wrote nothing new after this: held records and buckets go to the batcher now.
      await collection.close();
    });
    await collection.start();
    if (forecasting !== undefined) {
      forecasting.start();
      stops.unshift(() => forecasting.stop());
    }
    if (pools !== undefined) {
      pools.start();
      // Before the leave: managers and providers go while the broker still runs.
      stops.unshift(() => pools.stop());
    }

    const gateway = new Gateway({
      broker,
      tracker,
      clock,
      rules: () => ruleSet,
      ownerTimeoutMs: options.ownerTimeoutMs,
      local: throttle,
      ...(link === undefined ? {} : { link }),
      collect: collection.collector !== undefined,
    });
    const api = new Api({
      broker,
      gateway,
      rules,
      tracker,
      events: collection.events,
      maxPayloadBytes: options.maxPayloadBytes,
    });
    // Let the REPL commands reach this node's parts.
    (broker as unknown as { headroom: unknown }).headroom = { api, throttle, rules, tracker, collection };

    // Checks other gateways hand to this node (their tokens live here).
    link?.serveForwards(options.nodeId, (request, trace) => api.answerForwarded(request, trace));
    if (nc !== undefined) {
      const natsApi = new NatsApi(nc, api);
      natsApi.start();
      stops.unshift(() => natsApi.drain());
    }
    let http: HttpApi | undefined;
    if (options.httpPort !== null) {
      http = await startHttpApi(api, options.httpHost, options.httpPort, options.maxPayloadBytes);
      stops.unshift(() => http!.close());
    }
    if (nc !== undefined) {
      const conn = nc;
      stops.push(() => conn.drain());
    }
    stops.push(() => telemetry.shutdown());

    let stopping: Promise<void> | undefined;
    return {
      nodeId: options.nodeId,
      broker,
      api,
      throttle,
      rules,
      collection,
      forecasting,
      pools,
      httpUrl: http?.url,
      stop: () => (stopping ??= runAll(stops)),
    };
  } catch (err) {
    await runAll(stops).catch(() => {});
    if (nc !== undefined) await nc.close().catch(() => {});
    await broker.stop().catch(() => {});
    throw err;
  }
}

async function runAll(steps: Array<() => Promise<void>>): Promise<void> {
  for (const step of steps) await step();
}
