/**
 * A node's options: defaults < moleculer.config.ts (`headroom` key) <
 * HEADROOM_* environment variables < command-line flags.
 */
import { hostname } from 'node:os';
import {
  DAY_MS,
  ErrorCode,
  InputError,
  compileOptions,
  optBool,
  optDurationMs,
  optInt,
  optNullableInt,
  optNullableString,
  optNumber,
  optNullableInstantMs,
  optOneOf,
  optString,
  parseDurationMs,
} from '../../lib/index.ts';
import type { OptionSchema } from '../../lib/index.ts';
import { LogFormat, defaultLogFormat } from './logging.ts';
import { NATS_AUTH_SCHEMA, defaultNatsAuthOptions } from '../nats/index.ts';
import type { NatsAuthOptions } from '../nats/index.ts';

export const LogLevel = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;
export type LogLevel = (typeof LogLevel)[number];

/** A node's options; the NATS authentication options are {@link NatsAuthOptions}'. */
export interface NodeOptions extends NatsAuthOptions {
  /** This node's id in the cluster. @default `<hostname>-<pid>` */
  nodeId: string;
  /** NATS server URL(s), comma-separated. Null runs embedded (local transporter, rules in a file, HTTP API). @default null */
  natsUrl: string | null;
  /** Everything this node writes locally (rules file in embedded mode, spools). @default "./data" */
  dataDir: string;
  /** Port of the HTTP API on `httpHost`; 0 picks a free one. Null turns it off. @default 7420 embedded, null with NATS */
  httpPort: number | null;
  /** @default "127.0.0.1" */
  httpHost: string;
  /**
   * File holding the bearer token every HTTP route requires. Required (with
   * `httpAdminTokenFile`) when `httpHost` is not a loopback address. @default null
   */
  httpTokenFile: string | null;
  /** File holding the bearer token of the routes that change state (rules, events). @default null */
  httpAdminTokenFile: string | null;
  /** Port of the Prometheus endpoint (`GET /metrics`) on `metricsHost`; 0 picks a free one. Null turns it off. @default null */
  metricsPort: number | null;
  /** Off loopback, `/metrics` needs `httpTokenFile`'s (read) token. @default "127.0.0.1" */
  metricsHost: string;
  /**
   * How long a stop (SIGTERM) may take: hand-off, drains and flushes; past it
   * the node exits anyway, saying what it could not hand over. @default 10000
   */
  shutdownTimeoutMs: number;
  /** Open the Moleculer REPL with Headroom's commands. @default false */
  repl: boolean;
  /** Passivate a token actor after this long without a request. @default 300000 (5 min) */
  actorIdleMs: number;
  /** Most live token actors on this node; more evicts the least recently used. @default 100000 */
  maxActors: number;
  /** How long a gateway waits for a token's owner before re-routing. @default 1000 */
  ownerTimeoutMs: number;
  /**
   * How long a client may use a leased slice of a token's budget (client
   * leases, services/check/leases.ts): shorter returns unused units sooner
   * and blocks new slices for less after a leave; longer means fewer renewals.
   * @default 2000
   */
  leaseTtlMs: number;
  /** Most leased slices this node holds at once; asks past it are refused (retryable). @default 100000 */
  leaseMaxSlices: number;
  /** Moleculer heartbeat period; a node silent for 3 periods is taken as gone. @default 1000 */
  heartbeatMs: number;
  /**
   * Domain time runs this many times as fast as the wall clock (rules, actor
   * idle, collection, forecasts, training, pools), so a day-long trace plays
   * in minutes; heartbeats, timeouts and ownership fences keep real time
   * (services/node/node.ts says which part runs on which). Every duration
   * option of a domain part is in domain time. @default 1
   */
  timeScale: number;
  /**
   * With `timeScale`: the real moment (ms since the epoch) at which domain time
   * equals the wall clock, so that nodes started at different moments keep
   * the same domain time (give every node of a cluster the same one). Null:
   * the node's own start. @default null
   */
  timeOriginMs: number | null;
  /** Largest accepted request payload. @default 65536 */
  maxPayloadBytes: number;
  /** @default "info" */
  logLevel: LogLevel;
  /** `json` lines or `pretty` text, on stdout. @default "pretty" when stdout is a terminal, else "json" */
  logFormat: LogFormat;
  /** Moleculer namespace: nodes only see nodes of the same namespace. @default "headroom" */
  namespace: string;
  /** JetStream KV bucket holding the cluster's rules. @default "headroom_rules" */
  rulesBucket: string;
  /**
   * Where behavioural records, buckets and events go: `duckdb` (embedded, in
   * `<dataDir>/store.duckdb`), `clickhouse` (at `clickhouseUrl`), or `none`
   * (no collection, no events). @default "duckdb"
   */
  store: StoreKind;
  /** ClickHouse HTTP URL; required with store `clickhouse`. @default null */
  clickhouseUrl: string | null;
  /** ClickHouse database (created on first use). @default "headroom" */
  clickhouseDatabase: string;
  /**
   * JSON file `{"keys": [{"id", "secret", "activeFromMs"?}], "overlapMs"?}` of
   * the hash keys. Null generates a random key in `<dataDir>/privacy-key.json`
   * (0600) on first start and reuses it; a cluster must share one file. @default null
   */
  privacyKeyFile: string | null;
  /** JSON file of field policies `{params, profile, quasiIdentifiers, k, kWindowMs}`. @default null (built-in policies) */
  privacyFile: string | null;
  /** Holiday dates (`YYYY-MM-DD`, JSON array or one per line) for the holiday flag. @default null */
  holidaysFile: string | null;
  /** Profile attributes per user (JSON object or CSV `user,<attr>,...`). Null: no profiles. @default null */
  profileFile: string | null;
  /** Request parameter naming the user for the profile lookup. @default "user" */
  profileParam: string;
  /** IP prefix -> region table (JSON `[{prefix, region}]` or CSV `prefix,region`). @default null */
  ipRegionsFile: string | null;
  /** Events file (JSON lines or CSV) this node follows. @default null */
  eventsFile: string | null;
  /** Half-life of an event signal's level. @default 300000 (5 min) */
  eventHalfLifeMs: number;
  /** Stored days older than this are dropped. @default 2592000000 (30 days) */
  retentionMs: number;
  /** Bound of each of the store's two disk spools (collection's rows, and the rest). @default 268435456 (256 MiB) */
  spoolMaxBytes: number;
  /** How long after a bucket closes refunds are awaited before it is written. @default 2000 */
  collectGraceMs: number;
  /**
   * Most behavioural records per token and second; 0 writes one per decision.
   * Beyond it a uniform sample of the second's decisions is written; the
   * buckets (what the models train from) still count every decision.
   * @default 20
   */
  collectRecordsPerSecond: number;
  /** Forecast every live token's demand (the `forecast` and `bayes` services, the cadence). @default true */
  forecast: boolean;
  /** How often token actors get a fresh forecast. @default 5000 */
  forecastEveryMs: number;
  /** Forecast horizons, whole seconds (`"5s,30s,5m"` on the command line). @default [5000, 30000, 300000] */
  forecastHorizonsMs: number[];
  /** TensorFlow.js backend of the models. @default "wasm" */
  forecastBackend: ForecastBackend;
  /** Run the trainer on this node (retraining, validation, promotion). @default true */
  trainer: boolean;
  /** How often the trainer retrains (it also retrains when forecast error drifts). @default 600000 (10 min) */
  trainEveryMs: number;
  /**
   * Before any model serves, the first training runs once the demand seen
   * spans this long (and at least twice the longest horizon plus 32 s).
   * @default 180000 (3 min)
   */
  trainMinHistoryMs: number;
  /**
   * With NATS, one node trains for the cluster: it holds a lease on a
   * JetStream KV key renewed every third of this; when it dies another
   * takes over within this (the bucket's TTL, fixed by its first node).
   * @default 15000
   */
  trainerLeaseMs: number;
  /**
   * JSON file of the resource pools `{"pools": [{name, rules, kind, unitCapacity, ...}]}`
   * (services/pools/pools-config.ts). Null runs no pools: limits are the rules' own. @default null
   */
  poolsFile: string | null;
}

export const ForecastBackend = ['wasm', 'cpu', 'tensorflow'] as const;
export type ForecastBackend = (typeof ForecastBackend)[number];

/** A list of whole-second durations, as a JSON array or `"5s,30s,5m"`. */
function optHorizonsMs(v: unknown, field: string): number[] {
  const parts = Array.isArray(v)
    ? (v as unknown[])
    : typeof v === 'string'
      ? v.split(',').map((x) => x.trim())
      : [v];
  const out = parts.map((p) =>
    parseDurationMs(field, typeof p === 'string' && /^\d+$/.test(p) ? Number(p) : p),
  );
  if (out.length === 0 || out.some((ms) => ms % 1000 !== 0)) {
    throw new InputError(
      ErrorCode.InvalidOptions,
      `${field} must be whole seconds like "5s,30s,5m", got ${JSON.stringify(v)}`,
      { field, value: v },
    );
  }
  return out;
}

export const StoreKind = ['duckdb', 'clickhouse', 'none'] as const;
export type StoreKind = (typeof StoreKind)[number];

export function defaultNodeOptions(): NodeOptions {
  return {
    nodeId: `${hostname()}-${process.pid}`,
    natsUrl: null,
    ...defaultNatsAuthOptions(),
    dataDir: './data',
    httpPort: 7420,
    httpHost: '127.0.0.1',
    httpTokenFile: null,
    httpAdminTokenFile: null,
    metricsPort: null,
    metricsHost: '127.0.0.1',
    shutdownTimeoutMs: 10_000,
    repl: false,
    actorIdleMs: 300_000,
    maxActors: 100_000,
    ownerTimeoutMs: 1000,
    leaseTtlMs: 2000,
    leaseMaxSlices: 100_000,
    heartbeatMs: 1000,
    timeScale: 1,
    timeOriginMs: null,
    maxPayloadBytes: 65_536,
    logLevel: 'info',
    logFormat: defaultLogFormat(process.stdout.isTTY),
    namespace: 'headroom',
    rulesBucket: 'headroom_rules',
    store: 'duckdb',
    clickhouseUrl: null,
    clickhouseDatabase: 'headroom',
    privacyKeyFile: null,
    privacyFile: null,
    holidaysFile: null,
    profileFile: null,
    profileParam: 'user',
    ipRegionsFile: null,
    eventsFile: null,
    eventHalfLifeMs: 300_000,
    retentionMs: 30 * DAY_MS,
    spoolMaxBytes: 256 * 1024 * 1024,
    collectGraceMs: 2000,
    collectRecordsPerSecond: 20,
    forecast: true,
    forecastEveryMs: 5000,
    forecastHorizonsMs: [5000, 30_000, 300_000],
    forecastBackend: 'wasm',
    trainer: true,
    trainEveryMs: 600_000,
    trainMinHistoryMs: 180_000,
    trainerLeaseMs: 15_000,
    poolsFile: null,
  };
}

const schema: OptionSchema<NodeOptions> = {
  nodeId: optString,
  natsUrl: optNullableString,
  ...NATS_AUTH_SCHEMA,
  dataDir: optString,
  httpPort: optNullableInt(0, 65535),
  httpHost: optString,
  httpTokenFile: optNullableString,
  httpAdminTokenFile: optNullableString,
  metricsPort: optNullableInt(0, 65535),
  metricsHost: optString,
  shutdownTimeoutMs: optDurationMs,
  repl: optBool,
  actorIdleMs: optDurationMs,
  maxActors: optInt(1, 10_000_000),
  ownerTimeoutMs: optDurationMs,
  leaseTtlMs: optDurationMs,
  leaseMaxSlices: optInt(1, 10_000_000),
  heartbeatMs: optDurationMs,
  timeScale: optNumber(0, 100_000, true),
  timeOriginMs: optNullableInstantMs,
  maxPayloadBytes: optInt(256, 1_048_576),
  logLevel: optOneOf(LogLevel),
  logFormat: optOneOf(LogFormat),
  namespace: optString,
  rulesBucket: optString,
  store: optOneOf(StoreKind),
  clickhouseUrl: optNullableString,
  clickhouseDatabase: optString,
  privacyKeyFile: optNullableString,
  privacyFile: optNullableString,
  holidaysFile: optNullableString,
  profileFile: optNullableString,
  profileParam: optString,
  ipRegionsFile: optNullableString,
  eventsFile: optNullableString,
  eventHalfLifeMs: optDurationMs,
  retentionMs: optDurationMs,
  spoolMaxBytes: optInt(65_536, Number.MAX_SAFE_INTEGER),
  collectGraceMs: optDurationMs,
  collectRecordsPerSecond: optInt(0, 1_000_000),
  forecast: optBool,
  forecastEveryMs: optDurationMs,
  forecastHorizonsMs: optHorizonsMs,
  forecastBackend: optOneOf(ForecastBackend),
  trainer: optBool,
  trainEveryMs: optDurationMs,
  trainMinHistoryMs: optDurationMs,
  trainerLeaseMs: optDurationMs,
  poolsFile: optNullableString,
};

/** Environment variable for each option: HEADROOM_NATS_URL, HEADROOM_NODE_ID, ... */
export const envName = (key: string): string =>
  `HEADROOM_${key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;

function fromEnv(env: NodeJS.ProcessEnv): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(schema)) {
    const v = env[envName(key)];
    if (v !== undefined) out[key] = v;
  }
  return out;
}

/**
 * Compiles the node's options from its sources. `config` is the `headroom`
 * section of moleculer.config.ts; `flags` come from the command line.
 */
export function compileNodeOptions(
  config: Record<string, unknown> | undefined,
  env: NodeJS.ProcessEnv,
  flags: Record<string, unknown> | undefined,
): Readonly<NodeOptions> {
  const defaults = defaultNodeOptions();
  const envLayer = fromEnv(env);
  // The HTTP API is on by default only when embedded; with NATS it needs asking for.
  const clustered = [config, envLayer, flags].some(
    (l) => l?.['natsUrl'] !== undefined && l['natsUrl'] !== null && l['natsUrl'] !== '',
  );
  if (clustered) defaults.httpPort = null;
  const opts = compileOptions('options', schema, defaults, config, envLayer, flags);
  if (opts.store === 'clickhouse' && opts.clickhouseUrl === null) {
    throw new InputError(
      ErrorCode.InvalidOptions,
      'options.clickhouseUrl is required with options.store clickhouse (--clickhouse-url or HEADROOM_CLICKHOUSE_URL)',
      { field: 'options.clickhouseUrl' },
    );
  }
  return opts;
}
