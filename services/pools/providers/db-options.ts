/** Options of the `db` resource provider, parsed STYLE.md-way (unknown keys rejected). */
import { compileOptions, optDurationMs, optInt, optNullableString, optString } from '../../../lib/index.ts';
import type { OptionSchema } from '../../../lib/index.ts';

export interface DbProviderOptions {
  /** PostgreSQL host. @default "127.0.0.1" */
  host: string;
  /** @default 5432 */
  port: number;
  /** @default "postgres" */
  database: string;
  /** @default "postgres" */
  user: string;
  /** Null: none (trust or peer auth, or PGPASSWORD). @default null */
  password: string | null;
  /** `application_name` of every connection, to find them in `pg_stat_activity`. @default "headroom-pool" */
  applicationName: string;
  /** How many connections one unit is (the pool's capacity per unit). @default 1 */
  connectionsPerUnit: number;
  /** Most units the provider ever opens, whatever it is asked. @default 50 */
  maxUnits: number;
  /** Limit on connecting plus the warm-up query. @default 5000 */
  connectTimeoutMs: number;
  /** Query run on each new connection before it counts as ready. @default "SELECT 1" */
  warmQuery: string;
}

/** A fresh copy of the defaults. */
export function defaultDbProviderOptions(): DbProviderOptions {
  return {
    host: '127.0.0.1',
    port: 5432,
    database: 'postgres',
    user: 'postgres',
    password: null,
    applicationName: 'headroom-pool',
    connectionsPerUnit: 1,
    maxUnits: 50,
    connectTimeoutMs: 5000,
    warmQuery: 'SELECT 1',
  };
}

const schema: OptionSchema<DbProviderOptions> = {
  host: optString,
  port: optInt(1, 65535),
  database: optString,
  user: optString,
  password: optNullableString,
  applicationName: optString,
  connectionsPerUnit: optInt(1, 1000),
  maxUnits: optInt(1, 10_000),
  connectTimeoutMs: optDurationMs,
  warmQuery: optString,
};

/**
 * Merges `raw` over the defaults; throws one InputError (code InvalidOptions)
 * naming every unknown key and bad value.
 */
export function compileDbProviderOptions(
  raw: Readonly<Record<string, unknown>> = {},
): Readonly<DbProviderOptions> {
  return compileOptions('db', schema, defaultDbProviderOptions(), raw);
}
