/**
 * Assembles one Headroom node: a Moleculer broker (NATS transporter, or the
 * local one when embedded), the rule store, the token actors, the gateway and
 * the API front ends. `stop()` is the graceful leave: stop taking requests,
 * hand every actor to its new owner, then leave the cluster.
 */
import { ServiceBroker } from 'moleculer';
import type { BrokerOptions } from 'moleculer';
import type { NatsConnection } from 'nats';
import { RuleSet, SystemClock, compileRule, domainClock } from '../../lib/index.ts';
import type { Clock } from '../../lib/index.ts';
import { Api, startHttpApi, HttpAuth, NatsApi, replCommands } from '../api/index.ts';
import type { HttpApi } from '../api/index.ts';
import { OwnerLink, Gateway, ThrottleNode, throttleService } from '../check/index.ts';
import { createCollection } from '../collection/index.ts';
import type { Collection } from '../collection/index.ts';
import { setupForecasting, setupTrainerCluster } from '../forecasting/index.ts';
import type { Forecasting } from '../forecasting/index.ts';
import type { NodeOptions, UnexpectedErrorCounts } from '../runtime/index.ts';
import { Beats, PlacementTracker, beatSubject } from '../cluster/index.ts';
import { guardOf } from '../wire/index.ts';
import { setupPools } from '../pools/index.ts';
import type { PoolsSetup } from '../pools/index.ts';
import { NODE_INBOX_PREFIX, compileNatsConnect, connectNats } from '../nats/index.ts';
import { FileRuleStore, KvRuleStore, RuleAges } from '../rules/index.ts';
import type { RuleStore } from '../rules/index.ts';
import { initTelemetry, nodeLoggerConfig } from '../runtime/index.ts';
import {
  NodeMetrics,
  checkMetricsHost,
  nodeSources,
  otlpMetricsEndpoint,
  startMetricsServer,
  startOtlpPush,
} from '../metrics/index.ts';

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
  /** URL of the Prometheus endpoint (`.../metrics`), when option `metricsPort` is set. */
  readonly metricsUrl: string | undefined;
  /** Graceful leave; safe to call twice. */
  stop(): Promise<void>;
  /** Where a stop is (for the CLI's shutdown deadline): what would be lost if the process ended now. */
  stopReport(): StopReport;
}

/**
 * Both NATS connections retry for ever, 250 ms apart (nats.js waits 2 s and
 * gives up after 10 tries by default): service returns within a fraction of
 * a second of nats-server coming back.
 */
const RECONNECT = { reconnectTimeWait: 250, maxReconnectAttempts: -1 } as const;

/**
 * Resolves once placement has a node besides this one and the view is
 * complete (every node heard on the heartbeats is listed), or after
 * `withinMs` (a node alone).
 */
async function foundPeers(
  tracker: PlacementTracker,
  beats: Beats | undefined,
  withinMs: number,
): Promise<void> {
  const until = Date.now() + withinMs;
  const found = (): boolean =>
    tracker.placement.nodes.length >= 2 && (beats === undefined || beats.completeView(tracker.liveNodes));
  while (!found() && Date.now() < until) await new Promise((r) => setTimeout(r, 25));
}

/** A stop in progress, as {@link HeadroomNode.stopReport} sees it. */
export interface StopReport {
  /** The stop step running now (e.g. "hand-off and leave"); null before the stop and once it finished. */
  step: string | null;
  /** Token actors still on this node: not yet handed to their new owners (0 after the hand-off). */
  actorsHeld: number;
}

export interface StartNodeExtras {
  /** Broker options from moleculer.config.ts; Headroom's own settings win. */
  broker?: BrokerOptions;
  /**
   * The node's one clock, domain and infrastructure alike (tests). @default
   * a SystemClock for infrastructure and, for domain time, the same or (option
   * `timeScale` not 1) a ScaledClock: see {@link startNode}
   */
  clock?: Clock;
  /** The process guard's counts (runtime/process-guard.ts), reported in status; absent in-process. */
  unexpectedErrors?: () => UnexpectedErrorCounts;
}

/**
 * Starts a node. Two clocks run it (option `timeScale`, `--time-scale`):
 * - domain time, `clock`, scaled: the gateway (a request's time, and rule
 *   `from`/`until`), the token actors (GCRA, actor idle, client leases,
 *   refunds, ownership fences), collection, forecasting and training, pools
 *   (stepMs, leadMs), the API's events, forecasts and status, the REPL;
 * - infrastructure time, `realClock`, the wall clock: Moleculer heartbeats,
 *   membership and placement (suspicion), the link's heartbeats (beats.ts),
 *   owner-link request deadlines, the NATS API's guard, the rule store's
 *   revision times, the trainer election's lease (a JetStream TTL), the
 *   HTTP API and dashboard sampling, shutdown.
 * No part compares times of both. A request's time (`atMs`) reaches the
 * actors, so the gateway is domain; fences are kept by the actors, so they
 * are domain too, their heartbeat-based durations multiplied by the scale to
 * last the same real time. Owner timeouts given to domain parts stay real
 * request timeouts.
 */
export async function startNode(
  options: Readonly<NodeOptions>,
  extras: StartNodeExtras = {},
): Promise<HeadroomNode> {
  const realClock = extras.clock ?? new SystemClock();
  const clock = extras.clock ?? domainClock(options.timeScale, options.timeOriginMs);
  /** A real duration as the domain clock counts it (fences on the actors' clock). */
  const inDomainMs = (realMs: number): number => realMs * options.timeScale;
  // Before anything starts: a non-loopback HTTP host without both token files is refused here.
  const httpAuth = options.httpPort === null ? undefined : await HttpAuth.load(options);
  if (options.metricsPort !== null) checkMetricsHost(options);
  // Files (seed, creds, TLS) read once; every connection below authenticates from it.
  const nats = options.natsUrl === null ? undefined : compileNatsConnect(options.natsUrl, options);
  const telemetry = initTelemetry(options.nodeId);
  const heartbeatS = Math.max(1, Math.round(options.heartbeatMs / 1000));
  const broker = new ServiceBroker({
    logLevel: options.logLevel,
    ...extras.broker,
    // One pino logger for the whole node (runtime/logging.ts); a `logger` in moleculer.config.ts is ignored.
    logger: nodeLoggerConfig({ level: options.logLevel, format: options.logFormat }),
    namespace: options.namespace,
    nodeID: options.nodeId,
    // `servers` and an authenticator, not `url`: Moleculer's URL parsing keeps only user:pass.
    transporter:
      nats === undefined
        ? null
        : {
            type: 'NATS',
            options: nats.connectionOptions({
              name: `headroom-bus-${options.nodeId}`,
              inboxPrefix: NODE_INBOX_PREFIX,
              ...RECONNECT,
            }),
          },
    heartbeatInterval: heartbeatS,
    heartbeatTimeout: heartbeatS * 3,
    tracing: false,
    skipProcessEventRegistration: true,
    replOptions: { customCommands: replCommands(clock) },
  });

  let nc: NatsConnection | undefined;
  const stops: StopStep[] = [];
  try {
    if (nats !== undefined) {
      nc = await connectNats(nats, {
        name: `headroom-api-${options.nodeId}`,
        inboxPrefix: NODE_INBOX_PREFIX,
        // No stack captured per request: it cost more than the check itself (bench/check-nats.ts).
        noAsyncTraces: true,
        ...RECONNECT,
      });
    }
    const rules: RuleStore =
      nc === undefined
        ? new FileRuleStore(options.dataDir, realClock)
        : new KvRuleStore(nc, options.rulesBucket, broker.logger);
    let ruleSet = new RuleSet([]);
    // When each rule came to be, as this node saw it: rules loaded now are of unknown age.
    const ruleAges = new RuleAges(clock);
    let loaded = false;
    await rules.start((specs) => {
      ruleSet = new RuleSet(specs.map(compileRule));
      ruleAges.observe(
        specs.map((r) => r.id),
        !loaded,
      );
    });
    loaded = true;
    stops.push(step('rule store', () => rules.stop()));

    const collection = await createCollection(options, broker, clock);
    // Closed after the hand-off (below); pushed now so a failed start closes it too.
    stops.push(step('collection', () => collection.close()));

    const tracker = new PlacementTracker(broker, realClock);
    // The link's heartbeats: a node silent for one Moleculer heartbeat period is routed around.
    const beats =
      nc === undefined
        ? undefined
        : new Beats(
            nc,
            beatSubject(options.namespace),
            options.nodeId,
            realClock,
            { beatMs: Math.max(50, Math.round(options.heartbeatMs / 5)), deadAfterMs: options.heartbeatMs },
            guardOf(broker, realClock),
          );
    // Without a metrics port or an OTLP endpoint the check path counts nothing (its sinks are no-ops).
    const metrics =
      options.metricsPort === null && otlpMetricsEndpoint() === undefined
        ? undefined
        : new NodeMetrics(options.nodeId);
    const link =
      nc === undefined
        ? undefined
        : new OwnerLink(nc, options.namespace, realClock, guardOf(broker, realClock), metrics?.link);
    const throttle = new ThrottleNode({
      ...(link === undefined ? {} : { link }),
      broker,
      ...(collection.collector === undefined ? {} : { observer: collection.collector }),
      tracker,
      clock,
      realClock,
      idleMs: options.actorIdleMs,
      maxActors: options.maxActors,
      ownerTimeoutMs: options.ownerTimeoutMs,
      leases: { ttlMs: options.leaseTtlMs, maxSlices: options.leaseMaxSlices },
      suspectMs: options.heartbeatMs,
      ruleSinceMs: (id) => ruleAges.sinceMs(id),
      ...(beats === undefined
        ? {}
        : {
            // Views agree within about one heartbeat period (beats.ts); a stall past half of it is fenced.
            ownership: {
              settleMs: inDomainMs(options.heartbeatMs / 2),
              // A gateway routes around a node with no subscriber for a heartbeat after the last try.
              awayMs: inDomainMs(options.heartbeatMs),
            },
            checkContact: () => beats.checkContact(),
            viewComplete: () => beats.completeView(tracker.liveNodes),
          }),
    });
    if (beats !== undefined) {
      tracker.setBlind(() => beats.blind);
      beats.onSilenceChanged((silent) => {
        if (silent.size > 0) {
          broker.logger.info(
            { event: 'silence', peers: [...silent] },
            `routing around silent nodes: ${[...silent].join(', ')}`,
          );
        }
        tracker.setSilent(silent);
      });
      beats.onContactLost((reason) => throttle.contactLost(reason));
    }
    broker.createService(throttleService(throttle, tracker, extras.unexpectedErrors));
    if (link !== undefined) {
      // Serving before the broker announces this node, so no take finds it deaf.
      // Another node's takes wait, while this node is joining, until it has found every node.
      link.serve(options.nodeId, {
        take: async (params, meta) => {
          await throttle.awaitCompleteView();
          return await throttle.take(params, meta);
        },
        refund: (items) => throttle.refund(items),
      });
      stops.push(step('owner link', () => link.close()));
    }
    const forecasting = await setupForecasting(options, broker, clock, throttle, collection);
    // With NATS: one elected trainer, models shared through JetStream (its trainer stands by until elected).
    const trainerCluster =
      nc === undefined || forecasting === undefined
        ? undefined
        : setupTrainerCluster(options, broker, realClock, nc, forecasting);
    const pools = await setupPools(options, broker, clock, throttle, tracker, collection, nc);
    await broker.start();
    if (beats !== undefined) {
      // Beats from now on: until others list this node they route nothing to it, and a stall of
      // its start (loading the store, the models) is no one's business.
      beats.start();
      stops.push(step('heartbeats', () => beats.stop()));
    }
    stops.unshift(
      step('hand-off and leave', async () => {
        await throttle.leave();
        await broker.stop();
        // The leave wrote nothing new after this: held records and buckets go to the batcher now.
        await collection.close();
      }),
    );
    await collection.start();
    if (forecasting !== undefined) {
      forecasting.start();
      stops.unshift(step('forecasting', () => forecasting.stop()));
    }
    if (trainerCluster !== undefined) {
      await trainerCluster.start();
      // First: a leader gives its key up while its peers still run, so one of them takes over at once.
      stops.unshift(step('trainer election', () => trainerCluster.stop()));
    }
    if (pools !== undefined) {
      pools.start();
      // Before the leave: managers and providers go while the broker still runs.
      stops.unshift(step('pools', () => pools.stop()));
    }

    const gateway = new Gateway({
      broker,
      tracker,
      clock,
      realClock,
      rules: () => ruleSet,
      ownerTimeoutMs: options.ownerTimeoutMs,
      suspectMs: options.heartbeatMs,
      local: throttle,
      ...(link === undefined ? {} : { link }),
      collect: collection.collector !== undefined,
      ...(metrics === undefined ? {} : { metrics: metrics.check }),
    });
    const api = new Api({
      broker,
      gateway,
      rules,
      tracker,
      events: collection.events,
      maxPayloadBytes: options.maxPayloadBytes,
      clock,
    });
    // Let the REPL commands reach this node's parts.
    (broker as unknown as { headroom: unknown }).headroom = { api, throttle, rules, tracker, collection };

    // Checks other gateways hand to this node (their tokens live here), with the items they derived.
    link?.serveForwards(options.nodeId, async (items, trace) => {
      await throttle.awaitCompleteView();
      return await gateway.answerForward(items, trace);
    });
    if (nc !== undefined) {
      // Answer clients only once this node has found the cluster (or found it empty): a node that
      // saw only itself would take every token for its own and grant from fresh state.
      await foundPeers(tracker, beats, 1.5 * options.heartbeatMs);
      const natsApi = new NatsApi(nc, api, guardOf(broker, realClock));
      natsApi.start();
      stops.unshift(step('NATS API drain', () => natsApi.drain()));
    }
    let http: HttpApi | undefined;
    if (options.httpPort !== null) {
      http = await startHttpApi(api, {
        host: options.httpHost,
        port: options.httpPort,
        maxPayloadBytes: options.maxPayloadBytes,
        auth: httpAuth ?? HttpAuth.open(),
        log: broker.logger,
        dashboard: { broker, tracker, rules, clock: realClock, ruleClock: clock },
      });
      stops.unshift(step('HTTP API', () => http!.close()));
    }
    let metricsUrl: string | undefined;
    if (metrics !== undefined) metrics.read(nodeSources({ throttle, collection, forecasting, pools }));
    if (metrics !== undefined && otlpMetricsEndpoint() !== undefined) {
      const push = startOtlpPush(metrics, options.nodeId);
      stops.push(step('metrics push', () => push.shutdown()));
    }
    if (metrics !== undefined && options.metricsPort !== null) {
      const server = await startMetricsServer(
        metrics,
        { ...options, metricsPort: options.metricsPort },
        broker.getLogger('metrics'),
      );
      metricsUrl = server.url;
      stops.unshift(step('metrics', () => server.close()));
    }
    if (nc !== undefined) {
      const conn = nc;
      stops.push(step('NATS connection drain', () => conn.drain()));
    }
    stops.push(step('telemetry', () => telemetry.shutdown()));

    let stopping: Promise<void> | undefined;
    let stepNow: string | null = null;
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
      metricsUrl,
      stop: () => (stopping ??= runAll(stops, (name) => (stepNow = name))),
      stopReport: () => ({ step: stepNow, actorsHeld: throttle.host.size }),
    };
  } catch (err) {
    await runAll(stops).catch(() => {});
    if (nc !== undefined) await nc.close().catch(() => {});
    await broker.stop().catch(() => {});
    throw err;
  }
}

interface StopStep {
  name: string;
  run: () => Promise<void>;
}

const step = (name: string, run: () => Promise<void>): StopStep => ({ name, run });

/** Runs the steps in order; `onStep` hears each step's name as it starts, and null at the end. */
async function runAll(steps: readonly StopStep[], onStep?: (name: string | null) => void): Promise<void> {
  for (const s of steps) {
    onStep?.(s.name);
    await s.run();
  }
  onStep?.(null);
}
