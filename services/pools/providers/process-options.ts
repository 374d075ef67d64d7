/** Options of the `process` resource provider, parsed STYLE.md-way (unknown keys rejected). */
import {
  ErrorCode,
  InputError,
  compileOptions,
  optDurationMs,
  optInt,
  optNullableString,
  optOneOf,
  optString,
} from '../../../lib/index.ts';
import type { OptionSchema } from '../../../lib/index.ts';
import { LogLevel } from '../../runtime/index.ts';

/** The workers' log levels: a node's (Moleculer's). */
export const WorkerLogLevel = LogLevel;
export type WorkerLogLevel = LogLevel;

export interface ProcessProviderOptions {
  /** Pool name; workers are the Moleculer nodes `worker-<pool>-<n>`. @default "default" */
  pool: string;
  /** NATS URL the workers connect to (the observing broker's). Required. @default null */
  natsUrl: string | null;
  /** Service the workers serve; a worker is ready once it is in the registry. @default "backend" */
  service: string;
  /** SHA-256 rounds of one `work` request without `rounds`. @default 2000 */
  workRounds: number;
  /** A worker not visible within this is killed and counted as failed. @default 30000 */
  startTimeoutMs: number;
  /** After SIGTERM, SIGKILL when the worker has not exited within this. @default 5000 */
  stopTimeoutMs: number;
  /** Workers' Moleculer heartbeat period (whole seconds, at least 1). @default 1000 */
  heartbeatMs: number;
  /** Most workers the provider ever runs, whatever it is asked. @default 32 */
  maxUnits: number;
  /** Workers' log level. @default "warn" */
  logLevel: WorkerLogLevel;
}

/** A fresh copy of the defaults. */
export function defaultProcessProviderOptions(): ProcessProviderOptions {
  return {
    pool: 'default',
    natsUrl: null,
    service: 'backend',
    workRounds: 2000,
    startTimeoutMs: 30_000,
    stopTimeoutMs: 5000,
    heartbeatMs: 1000,
    maxUnits: 32,
    logLevel: 'warn',
  };
}

const poolName = (v: unknown, field: string): string => {
  const s = optString(v, field);
  if (!/^[a-z0-9][a-z0-9_-]{0,62}$/i.test(s)) {
    throw new InputError(
      ErrorCode.InvalidField,
      `${field} must be letters, digits, "-" or "_" (at most 63), got ${JSON.stringify(s)}`,
      { field, value: v },
    );
  }
  return s;
};

const schema: OptionSchema<ProcessProviderOptions> = {
  pool: poolName,
  natsUrl: optNullableString,
  service: poolName,
  workRounds: optInt(1, 10_000_000),
  startTimeoutMs: optDurationMs,
  stopTimeoutMs: optDurationMs,
  heartbeatMs: optDurationMs,
  maxUnits: optInt(1, 1000),
  logLevel: optOneOf(WorkerLogLevel),
};

/**
 * Merges `raw` over the defaults; throws one InputError (code
 * InvalidOptions) naming every unknown key, bad value and missing `natsUrl`.
 */
export function compileProcessProviderOptions(
  raw: Readonly<Record<string, unknown>> = {},
): Readonly<ProcessProviderOptions> {
  let opts: Readonly<ProcessProviderOptions>;
  try {
    opts = compileOptions('process', schema, defaultProcessProviderOptions(), raw);
  } catch (err) {
    if (err instanceof InputError && raw['natsUrl'] == null)
      throw new InputError(ErrorCode.InvalidOptions, `${err.message}; process.natsUrl is required`, {
        field: err.field ?? 'process.natsUrl',
      });
    throw err;
  }
  if (opts.natsUrl === null)
    throw new InputError(ErrorCode.InvalidOptions, 'process.natsUrl is required, got null', {
      field: 'process.natsUrl',
    });
  return opts;
}
