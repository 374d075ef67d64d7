/**
 * `headroom start`: one node. With no NATS URL it runs embedded (local
 * transporter, rules in a file, the HTTP API on loopback).
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { ErrorCode, InputError } from '../lib/index.ts';
import { compileNodeOptions, startNode } from '../services/index.ts';
import type { NodeOptions } from '../services/index.ts';

/** Flag name -> option key. Every option can also come from HEADROOM_<KEY> or moleculer.config.ts. */
const FLAGS: Record<string, keyof NodeOptions> = {
  nats: 'natsUrl',
  'nats-user': 'natsUser',
  'nats-password': 'natsPassword',
  'nats-token': 'natsToken',
  'nats-nkey-seed': 'natsNkeySeedFile',
  'nats-creds': 'natsCredsFile',
  'nats-tls-ca': 'natsTlsCa',
  'nats-tls-cert': 'natsTlsCert',
  'nats-tls-key': 'natsTlsKey',
  'node-id': 'nodeId',
  'data-dir': 'dataDir',
  'http-port': 'httpPort',
  'http-host': 'httpHost',
  'http-token-file': 'httpTokenFile',
  'http-admin-token-file': 'httpAdminTokenFile',
  'shutdown-timeout': 'shutdownTimeoutMs',
  repl: 'repl',
  'actor-idle': 'actorIdleMs',
  'max-actors': 'maxActors',
  'owner-timeout': 'ownerTimeoutMs',
  heartbeat: 'heartbeatMs',
  'max-payload-bytes': 'maxPayloadBytes',
  'log-level': 'logLevel',
  namespace: 'namespace',
  'rules-bucket': 'rulesBucket',
  store: 'store',
  'clickhouse-url': 'clickhouseUrl',
  'clickhouse-database': 'clickhouseDatabase',
  'privacy-key-file': 'privacyKeyFile',
  'privacy-file': 'privacyFile',
  'holidays-file': 'holidaysFile',
  'profile-file': 'profileFile',
  'profile-param': 'profileParam',
  'ip-regions-file': 'ipRegionsFile',
  'events-file': 'eventsFile',
  'event-half-life': 'eventHalfLifeMs',
  retention: 'retentionMs',
  'spool-max-bytes': 'spoolMaxBytes',
  'collect-grace': 'collectGraceMs',
  forecast: 'forecast',
  'forecast-every': 'forecastEveryMs',
  'forecast-horizons': 'forecastHorizonsMs',
  'forecast-backend': 'forecastBackend',
  trainer: 'trainer',
  'train-every': 'trainEveryMs',
  'pools-file': 'poolsFile',
};

export const START_USAGE = `usage: headroom start [--nats URL] [--node-id ID] [--data-dir DIR] [--http-port N] [--repl]
       [--nats-user U --nats-password P] [--nats-token T] [--nats-nkey-seed FILE] [--nats-creds FILE]
       [--nats-tls-ca FILE] [--nats-tls-cert FILE --nats-tls-key FILE]
       [--http-host H] [--http-token-file F] [--http-admin-token-file F] [--shutdown-timeout 10s] [--actor-idle 5m] [--max-actors N] [--owner-timeout 1s] [--heartbeat 1s]
       [--max-payload-bytes N] [--log-level info] [--namespace NS] [--rules-bucket B] [--config FILE]
       [--store duckdb|clickhouse|none] [--clickhouse-url URL] [--clickhouse-database DB]
       [--privacy-key-file F] [--privacy-file F] [--holidays-file F] [--profile-file F] [--profile-param user]
       [--ip-regions-file F] [--events-file F] [--event-half-life 5m] [--retention 30d]
       [--spool-max-bytes N] [--collect-grace 2s] [--forecast true|false] [--forecast-every 5s]
       [--forecast-horizons 5s,30s,5m] [--forecast-backend wasm|cpu|tensorflow] [--trainer true|false] [--train-every 10m]
       [--pools-file F]
Every option also reads HEADROOM_<NAME> (e.g. HEADROOM_NATS_URL) and the "headroom" key of moleculer.config.ts.`;

interface ConfigFile {
  headroom?: Record<string, unknown>;
  broker?: Record<string, unknown>;
}

async function loadConfig(path: string | undefined): Promise<ConfigFile> {
  const candidates = path !== undefined ? [path] : ['moleculer.config.ts', 'moleculer.config.js'];
  for (const c of candidates) {
    const full = resolve(c);
    if (!existsSync(full)) {
      if (path !== undefined) {
        throw new InputError(
          ErrorCode.InvalidOptions,
          `--config names no file, got ${JSON.stringify(path)}`,
          {
            field: 'config',
          },
        );
      }
      continue;
    }
    const mod = (await import(pathToFileURL(full).href)) as { default?: ConfigFile };
    return mod.default ?? {};
  }
  return {};
}

export async function startCommand(argv: string[]): Promise<number> {
  const options: Record<string, { type: 'string' | 'boolean' }> = { config: { type: 'string' } };
  for (const flag of Object.keys(FLAGS)) options[flag] = { type: flag === 'repl' ? 'boolean' : 'string' };
  let values: Record<string, unknown>;
  try {
    ({ values } = parseArgs({ args: argv, options, strict: true, allowPositionals: false }));
  } catch (err) {
    throw new InputError(ErrorCode.InvalidOptions, `${(err as Error).message}\n${START_USAGE}`, {
      field: 'argv',
    });
  }
  const flags: Record<string, unknown> = {};
  for (const [flag, key] of Object.entries(FLAGS)) if (values[flag] !== undefined) flags[key] = values[flag];
  const config = await loadConfig(values['config'] as string | undefined);
  const opts = compileNodeOptions(config.headroom, process.env, flags);

  const node = await startNode(opts, config.broker === undefined ? {} : { broker: config.broker });
  node.broker.logger.info(
    `headroom node ${node.nodeId} started ${opts.natsUrl === null ? 'embedded' : `on ${opts.natsUrl}`}` +
      (node.httpUrl === undefined ? '' : `, HTTP API at ${node.httpUrl}`),
  );
  // A line for scripts (ops/cluster.sh, tests) to wait on.
  console.log(
    JSON.stringify({ ready: true, nodeId: node.nodeId, httpUrl: node.httpUrl ?? null, pid: process.pid }),
  );

  const done = new Promise<number>((resolveExit) => {
    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) return;
      stopping = true;
      node.broker.logger.info(`${signal}: leaving the cluster, handing actors over`);
      node.stop().then(
        () => resolveExit(0),
        (err: unknown) => {
          node.broker.logger.error('graceful stop failed', err);
          resolveExit(1);
        },
      );
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
    if (opts.repl) {
      void node.broker.repl();
    }
  });
  return await done;
}
