/**
 * Forecasting across a cluster (with NATS): every node follows the shared
 * models (model-store.ts), and the nodes that may train (option `trainer`)
 * elect one of them (trainer-election.ts), whose promotions are published.
 * Embedded (no NATS) none of this runs: the node's trainer trains, as before.
 *
 * Buckets, named after the namespace: `<ns>_trainer` (KV, the `leader` key,
 * TTL the lease) and `<ns>_models` (Object Store of the versions, and a KV
 * bucket of the same name holding `current`). JetStream only: role `node`.
 */
import type { ServiceBroker } from 'moleculer';
import type { NatsConnection } from 'nats';
import { invalidField } from '../../lib/index.ts';
import type { Clock } from '../../lib/index.ts';
import type { NodeOptions } from '../runtime/index.ts';
import type { Forecasting } from './forecasting.ts';
import { SharedModels } from './model-store.ts';
import { TrainerElection } from './trainer-election.ts';

/** Shortest lease: a third of it is the renewal period and the JetStream timeout. */
const MIN_LEASE_MS = 1500;

/** The buckets of a namespace (bucket names allow `A-Z a-z 0-9 _ -`). */
export function trainerBuckets(namespace: string): { election: string; models: string } {
  const ns = namespace.replace(/[^A-Za-z0-9_-]/g, '_');
  return { election: `${ns}_trainer`, models: `${ns}_models` };
}

/** A node's part in the cluster's forecasting. */
export interface TrainerCluster {
  readonly models: SharedModels;
  /** Undefined on a node that does not train (option `trainer` false). */
  readonly election: TrainerElection | undefined;
  /** Follows the shared models and joins the election (after the broker started). */
  start(): Promise<void>;
  /** Leaves the election (a leader gives its key up) and stops following. */
  stop(): Promise<void>;
}

/**
 * Sets up the shared models and the election; the node's trainer stands by
 * until elected. Call before the broker starts (the trainer's `started`).
 */
export function setupTrainerCluster(
  options: Readonly<NodeOptions>,
  broker: ServiceBroker,
  clock: Clock,
  nc: NatsConnection,
  forecasting: Forecasting,
): TrainerCluster {
  if (!(options.trainerLeaseMs >= MIN_LEASE_MS)) {
    throw invalidField('options.trainerLeaseMs', `at least ${MIN_LEASE_MS} ms`, options.trainerLeaseMs);
  }
  const buckets = trainerBuckets(options.namespace);
  const log = broker.getLogger('trainer');
  const models = new SharedModels({
    nc,
    nodeId: options.nodeId,
    hub: forecasting.hub,
    bucket: buckets.models,
    log,
    now: () => clock.now(),
  });
  const trainer = forecasting.trainer;
  let election: TrainerElection | undefined;
  if (trainer !== undefined) {
    trainer.setLeadership(null, false);
    trainer.onPromoted((meta) => models.publish(meta));
    election = new TrainerElection({
      nc,
      nodeId: options.nodeId,
      clock,
      bucket: buckets.election,
      leaseMs: options.trainerLeaseMs,
      log,
      onChange: (view) => trainer.setLeadership(view.leader, view.self),
    });
  }
  return {
    models,
    election,
    start: async () => {
      await models.start();
      await election?.start();
    },
    stop: async () => {
      await election?.stop();
      await models.stop();
    },
  };
}
