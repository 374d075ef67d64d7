/**
 * Wires forecasting into a node: the `forecast` and `bayes` services on a
 * shared {@link ForecastHub}, the trainer (when enabled) reading the store
 * or else the live actors' windows, of every node (cluster-training.ts),
 * and the cadence that forecasts the active token actors and writes the
 * forecasts to the store. A token is active for a round when it had
 * requests since the previous one (the window is one cadence,
 * `forecastEveryMs`): so each request leads to a forecast, and a token that
 * went quiet keeps the last one it got, without a new row every round until
 * it is passivated.
 */
import type { ServiceBroker } from 'moleculer';
import { hash32 } from '../../lib/index.ts';
import type { Clock } from '../../lib/index.ts';
import { bayesService } from './bayes-service.ts';
import type { Collection } from '../collection/index.ts';
import { ForecastCadence } from './forecast-cadence.ts';
import { ForecastHub, forecastService, registryDirOf } from './forecast-service.ts';
import type { PredictParams, PredictReply } from './forecast-service.ts';
import type { NodeOptions } from '../runtime/index.ts';
import { storeTokenHasher } from '../collection/index.ts';
import { guardOf } from '../wire/index.ts';
import type { ThrottleNode } from '../check/index.ts';
import { Trainer } from './trainer.ts';
import { trainerService } from './trainer-service.ts';
import { liveTrainingSource, storeTrainingSource } from './training-data.ts';
import {
  PEER_TIMEOUT_MS,
  clusterTrainingSource,
  trainingPeers,
  trainingSeriesService,
} from './cluster-training.ts';

/** Slots (1 s) the trainer reads: an hour from the store, the windows' 15 min live. */
const STORE_SLOTS = 3600;
const LIVE_SLOTS = 900;
/** Most tokens per training run. */
const TRAIN_TOKENS = 200;
/**
 * Rest (ms) after each 2 ms slice of a forecast round (gather, predict,
 * keep): a round takes at most a quarter of the main thread, its ~100 ms
 * of work for ~330 active tokens spread over ~0.4 s instead of a burst the
 * checks queue behind (issue 15).
 */
const CADENCE_REST_MS = 6;

/**
 * Real time a round rests within: a quarter of the period in real time
 * (each of the gather, the predict calls and the keeping), so pacing never
 * stretches a round past its period, on a scaled clock (a 1 s period at 12x
 * is 83 ms of real time) or under a million one-off users.
 */
function restWithinMs(options: Readonly<NodeOptions>): number {
  return options.forecastEveryMs / Math.max(1, options.timeScale) / 4;
}

/** A node's forecasting parts. */
export interface Forecasting {
  readonly hub: ForecastHub;
  readonly trainer: Trainer | undefined;
  readonly cadence: ForecastCadence;
  /** Starts the cadence (after the broker started). */
  start(): void;
  stop(): Promise<void>;
}

/** Registers the services; undefined when forecasting is off. */
export async function setupForecasting(
  options: Readonly<NodeOptions>,
  broker: ServiceBroker,
  clock: Clock,
  throttle: ThrottleNode,
  collection: Collection,
): Promise<Forecasting | undefined> {
  if (!options.forecast) return undefined;
  const log = broker.getLogger('forecast');
  const hub = new ForecastHub(
    {
      horizonsMs: options.forecastHorizonsMs,
      stepMs: 1000,
      backend: options.forecastBackend,
      registryDir: registryDirOf(options.dataDir),
      restMs: CADENCE_REST_MS,
      restWithinMs: restWithinMs(options),
      roundEveryMs: options.forecastEveryMs,
    },
    clock,
  );
  // What other members send these services is checked; the node's Guard counts what is refused.
  const guard = guardOf(broker, clock);
  broker.createService(forecastService(hub, guard));
  broker.createService(bayesService(hub, guard));
  // A token's combiner state goes with its actor (idle, evicted at the cap, handed away): O(1) each.
  throttle.host.onPassivate((token) => void hub.release(token));
  const store = collection.store;
  const local =
    store === undefined
      ? liveTrainingSource(throttle.host, clock, LIVE_SLOTS, TRAIN_TOKENS)
      : storeTrainingSource(store, clock, STORE_SLOTS, 1000, TRAIN_TOKENS);
  // Every node lends its series to whichever node trains (cluster-training.ts).
  broker.createService(trainingSeriesService(local, guard));
  let trainer: Trainer | undefined;
  if (options.trainer) {
    trainer = new Trainer({
      hub,
      clock,
      source: clusterTrainingSource({
        local,
        peers: () => trainingPeers(broker),
        fetch: (nodeID, maxTokens) =>
          broker.call('training.series', { maxTokens }, { nodeID, timeout: PEER_TIMEOUT_MS, retries: 0 }),
        maxTokens: TRAIN_TOKENS,
        log: broker.getLogger('trainer'),
      }),
      options: {
        everyMs: options.trainEveryMs,
        lstm: {},
        driftFactor: 1.5,
        driftGapMs: 300_000,
        progressBar: true,
        minHistoryMs: options.trainMinHistoryMs,
      },
      nodeId: options.nodeId,
      emit: (event, payload) => void broker.broadcast(event, payload),
      log: broker.getLogger('trainer'),
    });
    broker.createService(trainerService(trainer, guard));
  }
  // Stored rows name tokens by their keyed hash, as the collector's do.
  let storeToken: ((token: string, nowMs: number) => string) | undefined;
  const batcher = collection.batcher;
  let refused = 0;
  let refusedLogMs = Number.NEGATIVE_INFINITY;
  if (batcher !== undefined) storeToken = await storeTokenHasher(options.privacyKeyFile, options.dataDir);
  const cadence = new ForecastCadence({
    host: throttle.host,
    clock,
    everyMs: options.forecastEveryMs,
    activeMs: options.forecastEveryMs,
    restMs: CADENCE_REST_MS,
    restWithinMs: restWithinMs(options),
    // Each node's rounds at its own point of the period: nodes started together (a cluster, the
    // benches) ran theirs in the same moment, every period, on the same cores (issue 15).
    phaseMs: hash32(options.nodeId) % options.forecastEveryMs,
    // The hub's horizons and season from the first round (the seasonal member's values a day back).
    horizonsMs: hub.config.horizonsMs,
    seasonMs: hub.zoo.seasonSteps * hub.config.stepMs,
    predict: (params: PredictParams) =>
      broker.call<PredictReply, PredictParams>('forecast.predict', params, { nodeID: broker.nodeID }),
    ...(batcher !== undefined && storeToken !== undefined
      ? {
          storeToken,
          write: (row) => {
            // A store and spool that cannot keep up refuse every row for a while: tryAdd builds
            // no error per row (issue 11), and one line per 10 s says so.
            let why: string;
            try {
              if (batcher.tryAdd('forecasts', row)) return;
              why = `${batcher.refusal ?? 'refused'}: the store and its spool are behind`;
            } catch (err) {
              why = (err as Error).message;
            }
            refused++;
            const now = clock.now();
            if (now - refusedLogMs < 10_000) return;
            refusedLogMs = now;
            log.warn(`forecast rows not stored (${refused} since start): ${why}`);
          },
        }
      : {}),
    retain: (live) => void hub.retain(live),
    onError: (wape, n) => void broker.emit('forecast.error', { wape, n }),
    log,
  });
  return {
    hub,
    trainer,
    cadence,
    start: () => cadence.start(),
    stop: () => cadence.stop(),
  };
}
