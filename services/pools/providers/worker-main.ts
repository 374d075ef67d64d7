/**
 * Entry of one worker process started by the `process` provider: a small
 * Moleculer node (NATS transporter) serving the pool's backend service.
 * Run as `node --import tsx worker-main.ts '<json config>'`; stops its
 * broker and exits on SIGTERM or SIGINT, or when the parent that started it
 * with an IPC channel dies.
 *
 * Actions of the service (named by `service`, default `backend`):
 * - `work({ rounds? })`: chains SHA-256 `rounds × slowdown` times (measurable
 *   CPU work) and answers `{ nodeID, pid, rounds, digest }`;
 * - `configure({ slowdown })`: multiplies the work of every later request
 *   (to make one worker slow in tests and drills);
 * - `health()`: `{ nodeID, pid, served }`.
 *
 * Each checks its params (worker-params.ts): a bad call gets a coded error.
 */
import { createHash } from 'node:crypto';
import { ServiceBroker } from 'moleculer';
import type { Context } from 'moleculer';
import { natsAuthFromEnv, compileNatsConnect } from '../../nats/index.ts';
import { parseConfigureParams, parseHealthParams, parseWorkParams } from './worker-params.ts';

/** What the provider passes as the first argument (JSON). */
export interface WorkerConfig {
  nodeID: string;
  natsUrl: string;
  namespace: string;
  service: string;
  workRounds: number;
  heartbeatS: number;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';
}

const cfg = JSON.parse(process.argv[2] ?? '{}') as WorkerConfig;
let slowdown = 1;
let served = 0;

const broker = new ServiceBroker({
  nodeID: cfg.nodeID,
  namespace: cfg.namespace,
  // Credentials come from the environment the node set (HEADROOM_NATS_*), as for the node itself.
  transporter: {
    type: 'NATS',
    options: compileNatsConnect(cfg.natsUrl, natsAuthFromEnv(process.env)).connectionOptions({
      name: `headroom-worker-${cfg.nodeID}`,
    }),
  },
  logLevel: cfg.logLevel,
  heartbeatInterval: cfg.heartbeatS,
  heartbeatTimeout: cfg.heartbeatS * 3,
  skipProcessEventRegistration: true,
  tracing: false,
});

broker.createService({
  name: cfg.service,
  actions: {
    work(ctx: Context<unknown>) {
      const rounds = parseWorkParams(ctx.params, cfg.workRounds).rounds * slowdown;
      let digest = Buffer.from(cfg.nodeID);
      for (let i = 0; i < rounds; i++) digest = createHash('sha256').update(digest).digest();
      served += 1;
      return { nodeID: cfg.nodeID, pid: process.pid, rounds, digest: digest.toString('hex') };
    },
    configure(ctx: Context<unknown>) {
      slowdown = parseConfigureParams(ctx.params).slowdown;
      return { nodeID: cfg.nodeID, slowdown };
    },
    health(ctx: Context<unknown>) {
      parseHealthParams(ctx.params);
      return { nodeID: cfg.nodeID, pid: process.pid, served };
    },
  },
});

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  try {
    await broker.stop();
  } finally {
    process.exit(0);
  }
}
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
// Started by a provider: its IPC channel closes when the provider's process dies.
if (process.connected) process.on('disconnect', () => void stop());

try {
  await broker.start();
} catch (err) {
  console.error(`worker ${cfg.nodeID} failed to start: ${String(err)}`);
  process.exit(1);
}
