/**
 * `headroom start`: one node. With no NATS URL it runs embedded (local
 * transporter, rules in a file, the HTTP API on loopback).
 *
 * The process is the node's: it installs the process guard
 * (services/runtime/process-guard.ts) before the node starts, and on SIGTERM or
 * SIGINT leaves gracefully within `--shutdown-timeout`, even when NATS is
 * unreachable; see {@link StartExit} for the exit codes.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ErrorCode, InputError } from '../lib/index.ts';
import { ProcessGuard, compileNodeOptions, redactUrl, startNode } from '../services/index.ts';
import type { HeadroomNode, NodeOptions } from '../services/index.ts';
import { CliExit, EXIT_CODES_USAGE, parseOptions } from './args.ts';
import type { OptionSpec } from './args.ts';

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
  'metrics-port': 'metricsPort',
  'metrics-host': 'metricsHost',
  'shutdown-timeout': 'shutdownTimeoutMs',
  repl: 'repl',
  'actor-idle': 'actorIdleMs',
  'max-actors': 'maxActors',
  'owner-timeout': 'ownerTimeoutMs',
  'lease-ttl': 'leaseTtlMs',
  'lease-max-slices': 'leaseMaxSlices',
  heartbeat: 'heartbeatMs',
  'time-scale': 'timeScale',
  'time-origin': 'timeOriginMs',
  'max-payload-bytes': 'maxPayloadBytes',
  'log-level': 'logLevel',
  'log-format': 'logFormat',
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
  'collect-records-per-second': 'collectRecordsPerSecond',
  forecast: 'forecast',
  'forecast-every': 'forecastEveryMs',
  'forecast-horizons': 'forecastHorizonsMs',
  'forecast-backend': 'forecastBackend',
  trainer: 'trainer',
  'train-every': 'trainEveryMs',
  'train-min-history': 'trainMinHistoryMs',
  'trainer-lease': 'trainerLeaseMs',
  'pools-file': 'poolsFile',
};

export const START_USAGE = `usage: headroom start [--nats URL] [--node-id ID] [--data-dir DIR] [--http-port N] [--repl]
       [--nats-user U --nats-password P] [--nats-token T] [--nats-nkey-seed FILE] [--nats-creds FILE]
       [--nats-tls-ca FILE] [--nats-tls-cert FILE --nats-tls-key FILE]
       [--http-host H] [--http-token-file F] [--http-admin-token-file F] [--shutdown-timeout 10s] [--actor-idle 5m] [--max-actors N] [--owner-timeout 1s] [--heartbeat 1s]
       [--lease-ttl 2s] [--lease-max-slices N] (client leases: how long a slice is used, most slices held)
       [--time-scale N] [--time-origin ISO|ms] (domain time N times as fast: rules, forecasts, pools; a day's trace in minutes;
        the same --time-origin on every node keeps a cluster on one domain time)
       [--max-payload-bytes N] [--log-level info] [--log-format json|pretty] [--namespace NS] [--rules-bucket B] [--config FILE]
       [--store duckdb|clickhouse|none] [--clickhouse-url URL] [--clickhouse-database DB]
       [--privacy-key-file F] [--privacy-file F] [--holidays-file F] [--profile-file F] [--profile-param user]
       [--ip-regions-file F] [--events-file F] [--event-half-life 5m] [--retention 30d]
       [--spool-max-bytes N] [--collect-grace 2s] [--collect-records-per-second 20] (0: a record per check)
       [--forecast true|false] [--forecast-every 5s]
       [--forecast-horizons 5s,30s,5m] [--forecast-backend wasm|cpu|tensorflow] [--trainer true|false] [--train-every 10m]
       [--train-min-history 3m] [--trainer-lease 15s]
       [--pools-file F] [--metrics-port N] [--metrics-host H]
Every option also reads HEADROOM_<NAME> (e.g. HEADROOM_NATS_URL) and the "headroom" key of moleculer.config.ts.
${EXIT_CODES_USAGE}
  once running: 0 left after SIGTERM/SIGINT, 1 failed, 3 leave ran past --shutdown-timeout,
  130/143 a second SIGINT/SIGTERM while leaving`;

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

/** Every option of `headroom start` (parseArgs specs; `--help` is added by parseOptions). */
export function startOptions(): OptionSpec {
  const options: OptionSpec = { config: { type: 'string' } };
  for (const flag of Object.keys(FLAGS)) options[flag] = { type: flag === 'repl' ? 'boolean' : 'string' };
  return options;
}

export async function startCommand(argv: string[]): Promise<number> {
  const parsed = parseOptions(argv, startOptions(), START_USAGE);
  if (parsed.help) {
    console.log(START_USAGE);
    return CliExit.Ok;
  }
  const values: Record<string, unknown> = parsed.values;
  const flags: Record<string, unknown> = {};
  for (const [flag, key] of Object.entries(FLAGS)) if (values[flag] !== undefined) flags[key] = values[flag];
  const config = await loadConfig(values['config'] as string | undefined);
  const opts = compileNodeOptions(config.headroom, process.env, flags);

  // Before the node runs there is nothing to hand over: an uncaught exception exits at once.
  let onUncaught = (): void => process.exit(StartExit.Failed);
  const guard = new ProcessGuard({ onUncaughtException: () => onUncaught() }).install();
  const node = await startNode(opts, {
    ...(config.broker === undefined ? {} : { broker: config.broker }),
    unexpectedErrors: () => guard.counts,
  });
  guard.useLog(node.broker.getLogger('process'));
  node.broker.logger.info(
    `headroom node ${node.nodeId} started ${opts.natsUrl === null ? 'embedded' : `on ${redactUrl(opts.natsUrl)}`}` +
      (node.httpUrl === undefined ? '' : `, HTTP API at ${node.httpUrl}`),
  );
  return await new Promise<number>((resolveExit) => {
    const leave = superviseStop(node, opts.shutdownTimeoutMs, resolveExit);
    onUncaught = () => leave('uncaught exception', StartExit.Failed);
    // A line for scripts (ops/cluster.sh, tests) to wait on; printed once SIGTERM and
    // SIGINT lead to a graceful leave, so a signal sent on seeing it is never lost.
    console.log(
      JSON.stringify({ ready: true, nodeId: node.nodeId, httpUrl: node.httpUrl ?? null, pid: process.pid }),
    );
    if (opts.repl) {
      void node.broker.repl();
    }
  });
}

/**
 * How `headroom start` exits (2, bad options, is `headroom`'s own):
 * a signal's leave that runs past `--shutdown-timeout` exits 3, after
 * logging how many token actors it could not hand over (their tokens start
 * afresh on their new owners, as after a crash); an uncaught exception exits
 * 1 whether or not its leave finished in time.
 */
export const StartExit = {
  /** Left gracefully after SIGTERM or SIGINT: every actor handed over. */
  Ok: 0,
  /** The leave failed, or an uncaught exception made the node leave. */
  Failed: 1,
  /** The leave did not finish within `--shutdown-timeout`. */
  ShutdownTimeout: 3,
  /** A second SIGINT while leaving: exit at once (128 + 2). */
  SecondSigint: 130,
  /** A second SIGTERM while leaving: exit at once (128 + 15). */
  SecondSigterm: 143,
} as const;
export type StartExit = (typeof StartExit)[keyof typeof StartExit];

/**
 * Wires SIGTERM and SIGINT to a graceful leave raced against the deadline; a
 * second signal exits at once. Returns the leave, for the process guard.
 */
function superviseStop(
  node: HeadroomNode,
  deadlineMs: number,
  resolveExit: (code: number) => void,
): (why: string, code: StartExit) => void {
  const log = node.broker.logger;
  let leaving: string | undefined;
  const leftBehind = (): string => {
    const r = node.stopReport();
    return `${r.actorsHeld} token actors not handed over${r.step === null ? '' : ` (stop step still running: ${r.step})`}`;
  };
  const leave = (why: string, code: StartExit): void => {
    if (leaving !== undefined) return;
    leaving = why;
    const started = performance.now();
    log.info(`${why}: leaving the cluster, handing actors over (at most ${deadlineMs} ms)`);
    const late = code === StartExit.Ok ? StartExit.ShutdownTimeout : code;
    // A process-level timer, not the node's Clock: it must fire whatever the node's parts are doing.
    const deadline = setTimeout(() => {
      log.error(`shutdown deadline of ${deadlineMs} ms passed: ${leftBehind()}; exiting with code ${late}`);
      process.exit(late);
    }, deadlineMs);
    node
      .stop()
      .then(
        () => code,
        (err: unknown) => {
          log.error(`graceful stop failed: ${leftBehind()}`, err);
          return StartExit.Failed;
        },
      )
      .then(
        (exitCode) => {
          clearTimeout(deadline);
          // Stopped; should a socket or timer still hold the event loop, the deadline still holds.
          const rest = Math.max(0, deadlineMs - (performance.now() - started));
          setTimeout(() => process.exit(exitCode), rest).unref();
          resolveExit(exitCode);
        },
        resolveExit.bind(null, StartExit.Failed),
      );
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    if (leaving === undefined) {
      leave(signal, StartExit.Ok);
      return;
    }
    const code = signal === 'SIGINT' ? StartExit.SecondSigint : StartExit.SecondSigterm;
    log.warn(`${signal} while leaving (${leaving}): exiting at once with code ${code}; ${leftBehind()}`);
    process.exit(code);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  return leave;
}
