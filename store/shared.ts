/**
 * Logic both adapters share, so that they answer alike: range checks, step
 * alignment and zero-fill, retention cut-off, row keys and link resolution.
 */
import { DAY_MS, invalidField } from '../lib/index.ts';
import type { BucketRow, ForecastRow, Resolution, RowKind, RowOf, TokenLinkRow } from './types.ts';

/** Upper bound on steps one `tokenBuckets` call (or one series of `tokenSeries`) may return. */
export const MAX_STEPS = 100_000;

/**
 * Upper bound on the values one `tokenSeries` call returns in all (tokens
 * times steps, a token counting as one step when the range has none): 32
 * MB of float64. The trainer's read (200 tokens of 3600 steps) is 720,000.
 */
export const MAX_SERIES_VALUES = 4_194_304;

export function checkRange(fromMs: number, toMs: number): void {
  if (!Number.isSafeInteger(fromMs) || fromMs < 0)
    throw invalidField('fromMs', 'a non-negative integer', fromMs);
  if (!Number.isSafeInteger(toMs) || toMs < fromMs)
    throw invalidField('toMs', `an integer >= fromMs (${fromMs})`, toMs);
}

export interface StepPlan {
  firstMs: number;
  /** Exclusive end of the data read: the end of the last step. */
  endMs: number;
  steps: number;
  resolution: Resolution;
}

/** Aligns `[fromMs, toMs)` to `stepMs` and picks the source resolution. */
export function planSteps(fromMs: number, toMs: number, stepMs: number): StepPlan {
  checkRange(fromMs, toMs);
  if (!Number.isSafeInteger(stepMs) || stepMs <= 0 || stepMs % 1000 !== 0) {
    throw invalidField('stepMs', 'a positive multiple of 1000', stepMs);
  }
  const firstMs = Math.floor(fromMs / stepMs) * stepMs;
  const steps = toMs <= firstMs ? 0 : Math.ceil((toMs - firstMs) / stepMs);
  if (steps > MAX_STEPS)
    throw invalidField('stepMs', `large enough for at most ${MAX_STEPS} steps in the range`, stepMs);
  return { firstMs, endMs: firstMs + steps * stepMs, steps, resolution: stepMs % 60_000 === 0 ? '1m' : '1s' };
}

/**
 * Checks a `tokenSeries` call: `tokens` an array of non-empty strings, the
 * range and step as {@link planSteps} checks them, and at most
 * {@link MAX_SERIES_VALUES} values in all.
 */
export function planSeries(tokens: unknown, fromMs: number, toMs: number, stepMs: number): StepPlan {
  if (!Array.isArray(tokens)) throw invalidField('tokens', 'an array of tokens', tokens);
  for (let i = 0; i < tokens.length; i++) {
    const t: unknown = tokens[i];
    if (typeof t !== 'string' || t === '') throw invalidField(`tokens[${i}]`, 'a non-empty string', t);
  }
  const plan = planSteps(fromMs, toMs, stepMs);
  const per = Math.max(1, plan.steps);
  if (tokens.length * per > MAX_SERIES_VALUES) {
    const most = Math.floor(MAX_SERIES_VALUES / per);
    throw invalidField(
      'tokens',
      `at most ${most} tokens for ${plan.steps} steps (${MAX_SERIES_VALUES} values in all)`,
      tokens.length,
    );
  }
  return plan;
}

/** One zeroed series of `steps` per token. */
export const zeroSeries = (count: number, steps: number): Float64Array[] =>
  Array.from({ length: count }, () => new Float64Array(steps));

/**
 * Rows of a store's `GROUP BY` step query (`s` = step start, and the sums
 * `requests`, `allowed`, `denied`, `cost`, as numbers or numeric strings),
 * zero-filled into one row per step of `plan`.
 */
export function zeroFill(
  token: string,
  plan: StepPlan,
  stepMs: number,
  grouped: ReadonlyArray<Record<string, unknown>>,
): BucketRow[] {
  const sums = new Map(grouped.map((r) => [Number(r['s']), r]));
  const out: BucketRow[] = [];
  for (let i = 0; i < plan.steps; i++) {
    const startMs = plan.firstMs + i * stepMs;
    const s = sums.get(startMs);
    out.push({
      token,
      resolution: plan.resolution,
      startMs,
      requests: Number(s?.['requests'] ?? 0),
      allowed: Number(s?.['allowed'] ?? 0),
      denied: Number(s?.['denied'] ?? 0),
      cost: Number(s?.['cost'] ?? 0),
    });
  }
  return out;
}

/** Start of the oldest day that retention keeps: rows before it are dropped. */
export function retentionCutoffMs(nowMs: number, retentionMs: number): number {
  if (!Number.isSafeInteger(nowMs) || nowMs < 0) throw invalidField('nowMs', 'a non-negative integer', nowMs);
  return Math.max(0, Math.floor((nowMs - retentionMs) / DAY_MS) * DAY_MS);
}

/** `YYYYMMDD` (UTC) of a time, the ClickHouse partition id of its day. */
export function yyyymmdd(ms: number): number {
  const d = new Date(ms);
  return d.getUTCFullYear() * 10_000 + (d.getUTCMonth() + 1) * 100 + d.getUTCDate();
}

const bucketKey = (r: BucketRow): string => `${r.token}|${r.resolution}|${r.startMs}|${r.source ?? ''}`;
const forecastKey = (r: ForecastRow): string => `${r.token}|${r.model}|${r.madeMs}|${r.horizonMs}`;
const linkKey = (r: TokenLinkRow): string => `${r.fromToken}|${r.toToken}`;

/** The idempotency key of a row of each kind. */
export function rowKey<K extends RowKind>(kind: K, row: RowOf[K]): string {
  switch (kind) {
    case 'buckets':
      return bucketKey(row as BucketRow);
    case 'forecasts':
      return forecastKey(row as ForecastRow);
    case 'links':
      return linkKey(row as TokenLinkRow);
    default:
      return (row as { id: string }).id;
  }
}

/** One row per key: the first (ids: the first write stands) or the last (replacing keys). */
export function uniqueBy<T>(rows: readonly T[], key: (r: T) => string, keep: 'first' | 'last'): T[] {
  const m = new Map<string, T>();
  for (const r of rows) {
    const k = key(r);
    if (keep === 'last' || !m.has(k)) m.set(k, r);
  }
  return [...m.values()];
}

/** Fetches the links whose `column` is one of `tokens`. */
export type LinkLookup = (
  column: 'from_token' | 'to_token',
  tokens: readonly string[],
) => Promise<TokenLinkRow[]>;

/** Rotations a chain may span before resolution stops (a guard against cycles). */
const MAX_LINK_DEPTH = 32;

/** Every token that `token` was linked from, transitively, with `token` itself. */
export async function aliasesOf(token: string, lookup: LinkLookup): Promise<string[]> {
  const seen = new Set([token]);
  let frontier = [token];
  for (let depth = 0; depth < MAX_LINK_DEPTH && frontier.length > 0; depth++) {
    const next: string[] = [];
    for (const l of await lookup('to_token', frontier)) {
      if (!seen.has(l.fromToken)) {
        seen.add(l.fromToken);
        next.push(l.fromToken);
      }
    }
    frontier = next;
  }
  return [...seen];
}

/**
 * For a `tokenSeries` call: every token whose rows it reads, each with the
 * positions in `tokens` whose series they add to (a token's own position,
 * and those of the tokens it was linked to: what {@link aliasesOf} gives
 * each, found for all of them at once, a lookup per link level).
 */
export async function seriesSources(
  tokens: readonly string[],
  lookup: LinkLookup,
): Promise<Map<string, number[]>> {
  const sources = new Map<string, number[]>();
  // Per distinct token asked for: the aliases found so far (aliasesOf's `seen`).
  const seen = new Map<string, Set<string>>();
  for (const t of tokens) if (!seen.has(t)) seen.set(t, new Set([t]));
  // Per token of the frontier: the tokens asked for whose aliases it newly is.
  let frontier = new Map([...seen.keys()].map((t) => [t, [t]]));
  for (let depth = 0; depth < MAX_LINK_DEPTH && frontier.size > 0; depth++) {
    const next = new Map<string, string[]>();
    for (const l of await lookup('to_token', [...frontier.keys()])) {
      for (const root of frontier.get(l.toToken) ?? []) {
        const aliases = seen.get(root)!;
        if (aliases.has(l.fromToken)) continue;
        aliases.add(l.fromToken);
        const roots = next.get(l.fromToken);
        if (roots === undefined) next.set(l.fromToken, [root]);
        else roots.push(root);
      }
    }
    frontier = next;
  }
  tokens.forEach((t, i) => {
    for (const alias of seen.get(t)!) {
      const at = sources.get(alias);
      if (at === undefined) sources.set(alias, [i]);
      else at.push(i);
    }
  });
  return sources;
}

/** The latest name of each token, following links forward (the newest link of a token wins). */
export async function canonicalNames(tokens: readonly string[], lookup: LinkLookup): Promise<string[]> {
  const next = new Map<string, TokenLinkRow>();
  let frontier = [...new Set(tokens)];
  for (let depth = 0; depth < MAX_LINK_DEPTH && frontier.length > 0; depth++) {
    const found: string[] = [];
    for (const l of await lookup('from_token', frontier)) {
      const prev = next.get(l.fromToken);
      if (prev === undefined || l.timeMs > prev.timeMs) next.set(l.fromToken, l);
      if (!next.has(l.toToken)) found.push(l.toToken);
    }
    frontier = found.filter((t) => !next.has(t));
  }
  const name = (t: string): string => {
    const seen = new Set<string>();
    let cur = t;
    while (next.has(cur) && !seen.has(cur)) {
      seen.add(cur);
      cur = next.get(cur)!.toToken;
    }
    return cur;
  };
  return [...new Set(tokens.map(name))].sort();
}
