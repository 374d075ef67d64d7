/**
 * Wires live allocation into a node when option `poolsFile` names a file:
 * the `pools` service (managers of the pools this node owns) and the
 * client that sends this node's tokens' wants and applies their leases.
 */
import type { ServiceBroker } from 'moleculer';
import type { NatsConnection } from 'nats';
import type { Clock } from '../../lib/index.ts';
import type { Collection } from '../collection/index.ts';
import { natsAuthEnv } from '../nats/index.ts';
import type { NodeOptions } from '../runtime/index.ts';
import type { PlacementTracker } from '../cluster/index.ts';
import { PoolClient } from './pool-client.ts';
import { loadPoolsFile } from './pools-config.ts';
import { Pools, poolsService } from './pools.ts';
import { KvSeasonStore } from './season-store.ts';
import type { SeasonStore } from './season-store.ts';
import { storeTokenHasher } from '../collection/index.ts';
import type { ThrottleNode } from '../check/index.ts';

/** A node's allocation parts. */
export interface PoolsSetup {
  readonly pools: Pools;
  readonly client: PoolClient;
  /** Starts managers and rounds (after the broker started). */
  start(): void;
  /** Stops rounds and managers (providers closed, processes stopped). */
  stop(): Promise<void>;
}

/**
 * Loads the pools file and registers the `pools` service; undefined when
 * `poolsFile` is null. With `nc` (a node in a NATS cluster) pools' seasons
 * are checkpointed to the namespace's KV bucket (season-store.ts); a bucket
 * that cannot be opened is a warning, and seasons then live in memory only.
 * @throws InputError code InvalidOptions when the file is unreadable or invalid.
 */
export async function setupPools(
  options: Readonly<NodeOptions>,
  broker: ServiceBroker,
  clock: Clock,
  throttle: ThrottleNode,
  tracker: PlacementTracker,
  collection: Collection,
  nc?: NatsConnection,
): Promise<PoolsSetup | undefined> {
  if (options.poolsFile === null) return undefined;
  const specs = await loadPoolsFile(options.poolsFile, options.natsUrl);
  const batcher = collection.batcher;
  let storeToken: ((token: string, nowMs: number) => string) | undefined;
  if (batcher !== undefined) storeToken = await storeTokenHasher(options.privacyKeyFile, options.dataDir);
  let seasonStore: SeasonStore | undefined;
  if (nc !== undefined && specs.some((s) => s.seasonMs !== null)) {
    try {
      seasonStore = await KvSeasonStore.open(nc, options.namespace);
    } catch (err) {
      broker
        .getLogger('pools')
        .warn(`pool seasons not checkpointed (KV bucket not opened): ${(err as Error).message}`);
    }
  }
  const pools = new Pools({
    broker,
    tracker,
    clock,
    specs,
    ...(batcher === undefined ? {} : { write: (row) => batcher.add('decisions', row) }),
    ...(storeToken === undefined ? {} : { storeToken }),
    workerEnv: natsAuthEnv(options),
    ...(seasonStore === undefined ? {} : { seasonStore }),
  });
  broker.createService(poolsService(pools));
  const client = new PoolClient({
    broker,
    host: throttle.host,
    clock,
    pools,
    horizonsMs: options.forecastHorizonsMs,
  });
  return {
    pools,
    client,
    start: () => {
      pools.start();
      client.start();
    },
    stop: async () => {
      await client.stop();
      await pools.stop();
    },
  };
}
