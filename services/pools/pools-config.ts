/**
 * The node's resource pools, from the JSON file named by option `poolsFile`:
 * `{"pools": [{ name, rules, kind, unitCapacity, minUnits, maxUnits, ... }]}`.
 * Parsed once at start (STYLE.md): unknown keys are rejected and every
 * problem is reported in one InputError (code InvalidOptions) naming its field.
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import {
  DAY_MS,
  ErrorCode,
  HeadroomError,
  InputError,
  LeaseLimits,
  compileOptions,
  invalidField,
  isPlainObject,
  optDurationMs,
  optOneOf,
  optString,
} from '../../lib/index.ts';
import type { OptionParser, OptionSchema } from '../../lib/index.ts';
import { compileDbProviderOptions, compileProcessProviderOptions } from './providers/index.ts';
import type { DbProviderOptions, ProcessProviderOptions } from './providers/index.ts';

export const PoolKind = ['simulated', 'db', 'process'] as const;
/** Where a pool's units come from: simulated (lead time only), `pg` connections, worker processes. */
export type PoolKind = (typeof PoolKind)[number];

export const PoolPolicyName = ['quantile', 'qra', 'reactive', 'static', 'rl'] as const;
/** The capacity policy of a pool. */
export type PoolPolicyName = (typeof PoolPolicyName)[number];

/** One pool, compiled. */
export interface PoolSpec {
  /** Letters, digits, `-`, `_`; the pool's owner is the node owning key `pool:<name>`. */
  name: string;
  /** Ids of the rules whose tokens draw on this pool (a rule draws on one pool at most). */
  rules: string[];
  kind: PoolKind;
  /** Requests per second one unit serves. */
  unitCapacity: number;
  minUnits: number;
  maxUnits: number;
  /** Length of one decision step. @default 5000 */
  stepMs: number;
  /** Start-up time of a unit. @default 10000 */
  leadMs: number;
  /** Lifetime of a lease. @default 3 x stepMs */
  leaseTtlMs: number;
  /** How long an expired lease takes to decay to the rule's limit. @default 2 x stepMs */
  decayMs: number;
  /** @default "quantile" */
  policy: PoolPolicyName;
  /**
   * How far leases may move the pool's tokens' limits: `raise-only` lowers a
   * token below its rule only when the pool is at `maxUnits` and demand
   * exceeds its capacity; `protect` hands out the fair share of the ready
   * capacity, below the rule whenever the pool is short. @default "raise-only"
   */
  limits: LeaseLimits;
  /**
   * The pool's season: it remembers its demand per step for one season and
   * plans at least the last season's demand around each horizon, scaled to
   * today's level (lib `SeasonalProfile`), so a daily ramp is met from the
   * second day on. A duration (`"1d"`, or ms; at least 4 steps) or null for
   * none. @default "1d"
   */
  seasonMs: number | null;
  /**
   * How often the pool's manager checkpoints its season to the cluster's
   * store (JetStream KV, with NATS), so its next manager (after a move or a
   * crash) starts with it: a crash loses at most this much. At least one
   * step. @default "1m"
   */
  seasonCheckpointMs: number;
  /**
   * Policy `quantile`: the forecast quantile it provisions for; policy `qra`:
   * the quantile of the demand a lead ahead its learned map reads. @default 0.9
   */
  quantile: number;
  /**
   * Policy `rl`: a table trained offline (`headroom replay --policy rl --rl-save FILE`),
   * relative to the pools file. Null starts an untrained table. @default null
   */
  rlModel: string | null;
  /** Policy `rl`: price of one throttled request, in unit-steps of cost. @default 1 */
  throttlePrice: number;
  /** The `rlModel` file's contents, read when the pools file is loaded. */
  rlState: unknown;
  /** DbProvider options (kind `db`). */
  db: Readonly<DbProviderOptions> | null;
  /** ProcessProvider options (kind `process`); `natsUrl` defaults to the node's. */
  process: Readonly<ProcessProviderOptions> | null;
}

const POOL_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/i;

const positive: OptionParser<number> = (v, field) => {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0)
    throw invalidField(field, 'a positive number', v);
  return v;
};
const count: OptionParser<number> = (v, field) => {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw invalidField(field, 'an integer >= 0', v);
  return v;
};
const positiveMs: OptionParser<number> = (v, field) => {
  const ms = optDurationMs(v, field);
  if (!(ms > 0)) throw invalidField(field, 'a positive duration', v);
  return ms;
};
/** A duration that may be zero (a number of ms, or a string like "10s"). */
const msOrZero: OptionParser<number> = (v, field) => {
  if (typeof v === 'number' && Number.isFinite(v) && v >= 0) return v;
  return optDurationMs(v, field);
};
const objectOrNull: OptionParser<Record<string, unknown> | null> = (v, field) => {
  if (v === null) return null;
  if (!isPlainObject(v)) throw invalidField(field, 'an object', v);
  return v;
};

type RawPool = Omit<PoolSpec, 'leaseTtlMs' | 'decayMs' | 'db' | 'process' | 'rlState'> & {
  leaseTtlMs: number | null;
  decayMs: number | null;
  db: Record<string, unknown> | null;
  process: Record<string, unknown> | null;
};

const schema: OptionSchema<RawPool> = {
  name: (v, field) => {
    const s = optString(v, field);
    if (!POOL_NAME.test(s)) throw invalidField(field, 'letters, digits, "-" or "_" (at most 63)', v);
    return s;
  },
  rules: (v, field) => {
    if (!Array.isArray(v) || v.length === 0) throw invalidField(field, 'a non-empty list of rule ids', v);
    return v.map((r, i) => optString(r, `${field}[${i}]`));
  },
  kind: optOneOf(PoolKind),
  unitCapacity: positive,
  minUnits: count,
  maxUnits: count,
  stepMs: positiveMs,
  leadMs: msOrZero,
  leaseTtlMs: (v, field) => (v === null ? null : positiveMs(v, field)),
  decayMs: (v, field) => (v === null ? null : msOrZero(v, field)),
  policy: optOneOf(PoolPolicyName),
  limits: optOneOf(LeaseLimits),
  seasonMs: (v, field) => (v === null ? null : positiveMs(v, field)),
  seasonCheckpointMs: positiveMs,
  quantile: (v, field) => {
    if (typeof v !== 'number' || !(v > 0 && v < 1)) throw invalidField(field, 'a number between 0 and 1', v);
    return v;
  },
  rlModel: (v, field) => (v === null ? null : optString(v, field)),
  throttlePrice: positive,
  db: objectOrNull,
  process: objectOrNull,
};

const REQUIRED = ['name', 'rules', 'kind', 'unitCapacity', 'maxUnits'] as const;

function defaults(): RawPool {
  return {
    name: '',
    rules: [],
    kind: 'simulated',
    unitCapacity: 1,
    minUnits: 0,
    maxUnits: 0,
    stepMs: 5000,
    leadMs: 10_000,
    leaseTtlMs: null,
    decayMs: null,
    policy: 'quantile',
    limits: 'raise-only',
    seasonMs: DAY_MS,
    seasonCheckpointMs: 60_000,
    quantile: 0.9,
    rlModel: null,
    throttlePrice: 1,
    db: null,
    process: null,
  };
}

const messageOf = (err: unknown): string => (err instanceof HeadroomError ? err.message : String(err));

/**
 * Compiles the parsed pools file. `natsUrl` (the node's) is the default of
 * each `process` pool's `process.natsUrl`.
 *
 * @throws InputError code InvalidOptions listing every problem; `field` is the first.
 */
export function compilePools(raw: unknown, natsUrl: string | null, name = 'pools'): readonly PoolSpec[] {
  const problems: { field: string; message: string }[] = [];
  const fail = (field: string, message: string) => problems.push({ field, message });
  const list: unknown = isPlainObject(raw) ? raw['pools'] : undefined;
  if (isPlainObject(raw)) {
    for (const k of Object.keys(raw))
      if (k !== 'pools') fail(`${name}.${k}`, `${name}.${k} is not a known key (known: pools)`);
  }
  if (!Array.isArray(list)) {
    fail(`${name}.pools`, invalidField(`${name}.pools`, 'a list of pools', list).message);
    throw joined(problems);
  }
  const out: PoolSpec[] = [];
  const names = new Set<string>();
  const ruleOwner = new Map<string, string>();
  list.forEach((entry: unknown, i) => {
    const at = `${name}.pools[${i}]`;
    if (!isPlainObject(entry)) return void fail(at, invalidField(at, 'an object', entry).message);
    for (const k of REQUIRED) if (entry[k] === undefined) fail(`${at}.${k}`, `${at}.${k} is required`);
    let p: Readonly<RawPool>;
    try {
      p = compileOptions(at, schema, defaults(), entry);
    } catch (err) {
      return void fail((err as InputError).field ?? at, messageOf(err));
    }
    if (REQUIRED.some((k) => entry[k] === undefined)) return;
    if (p.maxUnits < p.minUnits || p.maxUnits === 0)
      fail(
        `${at}.maxUnits`,
        invalidField(`${at}.maxUnits`, `an integer >= max(1, minUnits)`, p.maxUnits).message,
      );
    if (p.seasonMs !== null && !(p.seasonMs >= 4 * p.stepMs))
      fail(
        `${at}.seasonMs`,
        invalidField(
          `${at}.seasonMs`,
          `a duration of at least 4 steps (${4 * p.stepMs} ms), or null`,
          p.seasonMs,
        ).message,
      );
    if (!(p.seasonCheckpointMs >= p.stepMs))
      fail(
        `${at}.seasonCheckpointMs`,
        invalidField(
          `${at}.seasonCheckpointMs`,
          `a duration of at least one step (${p.stepMs} ms)`,
          p.seasonCheckpointMs,
        ).message,
      );
    if (names.has(p.name)) fail(`${at}.name`, `${at}.name ${JSON.stringify(p.name)} is used by another pool`);
    names.add(p.name);
    p.rules.forEach((r, ri) => {
      const other = ruleOwner.get(r);
      if (other !== undefined && other !== p.name)
        fail(`${at}.rules[${ri}]`, `${at}.rules[${ri}] ${JSON.stringify(r)} already draws on pool ${other}`);
      ruleOwner.set(r, p.name);
    });
    let db: Readonly<DbProviderOptions> | null = null;
    let proc: Readonly<ProcessProviderOptions> | null = null;
    try {
      if (p.kind === 'db') db = compileDbProviderOptions({ maxUnits: p.maxUnits, ...(p.db ?? {}) });
      else if (p.db !== null) fail(`${at}.db`, `${at}.db is only for kind db, got kind ${p.kind}`);
      if (p.kind === 'process')
        proc = compileProcessProviderOptions({
          pool: p.name,
          natsUrl,
          maxUnits: p.maxUnits,
          ...(p.process ?? {}),
        });
      else if (p.process !== null)
        fail(`${at}.process`, `${at}.process is only for kind process, got kind ${p.kind}`);
    } catch (err) {
      fail(`${at}.${p.kind}`, `${at}: ${messageOf(err)}`);
    }
    out.push(
      Object.freeze({
        ...p,
        rules: [...p.rules],
        leaseTtlMs: p.leaseTtlMs ?? 3 * p.stepMs,
        decayMs: p.decayMs ?? 2 * p.stepMs,
        db,
        process: proc,
        rlState: null,
      }),
    );
  });
  if (problems.length > 0) throw joined(problems);
  return Object.freeze(out);
}

function joined(problems: { field: string; message: string }[]): InputError {
  return new InputError(ErrorCode.InvalidOptions, problems.map((p) => p.message).join('; '), {
    field: problems[0]!.field,
  });
}

/**
 * Reads and compiles the pools file at `path`.
 * @throws InputError code InvalidOptions when it cannot be read, is not JSON, or is invalid.
 */
export async function loadPoolsFile(path: string, natsUrl: string | null): Promise<readonly PoolSpec[]> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(path, 'utf8'));
  } catch (err) {
    throw new InputError(
      ErrorCode.InvalidOptions,
      `options.poolsFile ${JSON.stringify(path)} must be a readable JSON file: ${(err as Error).message}`,
      { field: 'options.poolsFile', value: path, cause: err },
    );
  }
  const pools = compilePools(raw, natsUrl);
  // A trained RL table named by a pool is read now, so a bad file stops the node at start.
  return await Promise.all(
    pools.map(async (pool, i) => {
      if (pool.rlModel === null) return pool;
      const file = resolve(dirname(path), pool.rlModel);
      try {
        return Object.freeze({ ...pool, rlState: JSON.parse(await readFile(file, 'utf8')) as unknown });
      } catch (err) {
        const field = `pools.pools[${i}].rlModel`;
        throw new InputError(
          ErrorCode.InvalidOptions,
          `${field} ${JSON.stringify(pool.rlModel)} must be a readable JSON file: ${(err as Error).message}`,
          { field, value: pool.rlModel, cause: err },
        );
      }
    }),
  );
}
