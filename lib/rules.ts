import { isoDateTimeMs, parseDurationMs } from './duration.ts';
import { ErrorCode, InputError, show } from './errors.ts';
import type { GcraLimit } from './gcra.ts';
import {
  isParamKey,
  isParamValue,
  isPlainObject,
  MAX_PARAM_KEY_LENGTH,
  PARAM_VALUE_EXPECTED,
} from './params.ts';
import type { ParamValue } from './params.ts';

/** Enforce denies over-limit requests; shadow only counts and reports what it would have done. */
export const RuleMode = { Enforce: 'enforce', Shadow: 'shadow' } as const;
export type RuleMode = (typeof RuleMode)[keyof typeof RuleMode];

/** A token: which rule, and the values of its key fields. Build it with {@link tokenKeyOf}. */
export type TokenKey = string & { readonly __brand: 'TokenKey' };

/** The public JSON form: what `rules.put` accepts after defaults, and what `rules.get`/`list` return. */
export interface RuleSpec {
  /** 1-128 characters of `[A-Za-z0-9_.:-]`. */
  id: string;
  /** Selectors: each named param must equal the value, or one of the values. @default {} */
  match: Record<string, ParamValue | ParamValue[]>;
  /** The param names whose values form the token, in this order. */
  key: string[];
  /** Requests (cost units) per `period`. */
  rate: number;
  /** A duration, `"1s"`, `"1m"`, or ms; kept as given. */
  period: string | number;
  /** Most cost units at once. @default max(rate, 1) */
  burst: number;
  /** Higher first. @default 0 */
  priority: number;
  /** @default 'enforce' */
  mode: RuleMode;
  /** ISO-8601 date-time with a zone; the rule applies from this instant on. */
  effectiveFrom?: string;
  /** ISO-8601 date-time with a zone; the rule stops applying at this instant. */
  effectiveUntil?: string;
}

/** A validated rule with everything the hot path needs precomputed. */
export interface CompiledRule {
  spec: RuleSpec;
  id: string;
  key: readonly string[];
  limit: GcraLimit;
  priority: number;
  mode: RuleMode;
  fromMs?: number;
  untilMs?: number;
  /** Selector name and the `String()` of every value it accepts. */
  selectors: readonly (readonly [string, ReadonlySet<string>])[];
}

const FIELDS = new Set([
  'id',
  'match',
  'key',
  'rate',
  'period',
  'burst',
  'priority',
  'mode',
  'effectiveFrom',
  'effectiveUntil',
]);
const ID = /^[A-Za-z0-9_.:-]{1,128}$/;
const MAX_KEY_FIELDS = 16;
const MAX_SELECTORS = 64;

interface Problem {
  code: ErrorCode;
  field: string;
  value: unknown;
  text: string;
}

/**
 * Validates a rule and fills in defaults. Every problem is reported in one
 * {@link InputError}: its `field` and `code` are those of the first problem and
 * its message lists all of them, joined by "; ".
 */
export function parseRule(input: unknown, field = 'rule'): RuleSpec {
  if (!isPlainObject(input)) {
    throw new InputError(ErrorCode.InvalidField, `${field} must be an object, got ${show(input)}`, {
      field,
      value: input,
    });
  }
  const problems: Problem[] = [];
  const bad = (name: string, expected: string, code: ErrorCode = ErrorCode.InvalidField): void => {
    const value = input[name];
    const f = `${field}.${name}`;
    const text =
      code === ErrorCode.MissingField
        ? `${f} is required (${expected})`
        : code === ErrorCode.UnknownField
          ? `${f} is not a known field`
          : `${f} must be ${expected}, got ${show(value)}`;
    problems.push({ code, field: f, value, text });
  };
  for (const name of Object.keys(input)) if (!FIELDS.has(name)) bad(name, '', ErrorCode.UnknownField);
  const { id, match = {}, key, rate, period, priority = 0, mode = RuleMode.Enforce } = input;

  if (id === undefined) bad('id', 'an id', ErrorCode.MissingField);
  else if (typeof id !== 'string' || !ID.test(id)) bad('id', '1 to 128 characters of A-Z a-z 0-9 _ . : -');

  const outMatch: [string, ParamValue | ParamValue[]][] = [];
  if (!isPlainObject(match) || Object.keys(match).length > MAX_SELECTORS) {
    bad('match', `an object of at most ${MAX_SELECTORS} selectors`);
  } else {
    for (const [name, v] of Object.entries(match)) {
      const f = `${field}.match.${name}`;
      const ok = Array.isArray(v) ? v.length > 0 && v.every(isParamValue) : isParamValue(v);
      if (!isParamKey(name)) {
        const text = `${field}.match keys must be 1 to ${MAX_PARAM_KEY_LENGTH} characters, got ${show(name)}`;
        problems.push({ code: ErrorCode.InvalidField, field: `${field}.match`, value: name, text });
      } else if (!ok) {
        const text = `${f} must be ${PARAM_VALUE_EXPECTED}, or a non-empty array of them, got ${show(v)}`;
        problems.push({ code: ErrorCode.InvalidField, field: f, value: v, text });
      } else {
        outMatch.push([name, Array.isArray(v) ? [...(v as ParamValue[])] : (v as ParamValue)]);
      }
    }
  }

  const keyExpected = `a non-empty array of at most ${MAX_KEY_FIELDS} distinct param names`;
  if (key === undefined) bad('key', keyExpected, ErrorCode.MissingField);
  else if (
    !Array.isArray(key) ||
    key.length === 0 ||
    key.length > MAX_KEY_FIELDS ||
    !key.every((k) => typeof k === 'string' && isParamKey(k)) ||
    new Set(key).size !== key.length
  ) {
    bad('key', keyExpected);
  }

  if (rate === undefined) bad('rate', 'a positive number', ErrorCode.MissingField);
  else if (!isPositive(rate)) bad('rate', 'a positive number');

  if (period === undefined) bad('period', 'a duration like "1s"', ErrorCode.MissingField);
  else {
    try {
      parseDurationMs(`${field}.period`, period);
    } catch (err) {
      problems.push({
        code: ErrorCode.InvalidField,
        field: `${field}.period`,
        value: period,
        text: msg(err),
      });
    }
  }

  const burst = input['burst'] ?? (isPositive(rate) ? Math.max(rate, 1) : 1);
  if (typeof burst !== 'number' || !Number.isFinite(burst) || burst < 1)
    bad('burst', 'a number of at least 1');

  if (!Number.isSafeInteger(priority)) bad('priority', 'an integer');
  if (mode !== RuleMode.Enforce && mode !== RuleMode.Shadow) bad('mode', '"enforce" or "shadow"');

  const dateExpected = 'an ISO-8601 date-time with a zone, like "2026-12-01T00:00:00Z"';
  const fromMs = dateMs(input['effectiveFrom']);
  const untilMs = dateMs(input['effectiveUntil']);
  if (fromMs === null) bad('effectiveFrom', dateExpected);
  if (untilMs === null) bad('effectiveUntil', dateExpected);
  if (typeof fromMs === 'number' && typeof untilMs === 'number' && untilMs <= fromMs) {
    bad('effectiveUntil', `after effectiveFrom (${show(input['effectiveFrom'])})`);
  }

  const first = problems[0];
  if (first !== undefined) {
    throw new InputError(first.code, problems.map((p) => p.text).join('; '), {
      field: first.field,
      value: first.value,
    });
  }
  const spec: RuleSpec = {
    id: id as string,
    // fromEntries defines own properties, so a "__proto__" selector stays a plain key.
    match: Object.fromEntries(outMatch),
    key: [...(key as string[])],
    rate: rate as number,
    period: period as string | number,
    burst: burst as number,
    priority: priority as number,
    mode: mode as RuleMode,
  };
  if (fromMs !== undefined) spec.effectiveFrom = input['effectiveFrom'] as string;
  if (untilMs !== undefined) spec.effectiveUntil = input['effectiveUntil'] as string;
  return spec;
}

function isPositive(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v) && v > 0;
}

/** undefined when absent, null when invalid. */
function dateMs(v: unknown): number | null | undefined {
  if (v === undefined) return undefined;
  return (typeof v === 'string' ? isoDateTimeMs(v) : undefined) ?? null;
}

function msg(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Precomputes a rule for the hot path. Pass a spec from {@link parseRule}. */
export function compileRule(spec: RuleSpec): CompiledRule {
  const periodMs = parseDurationMs(`rule.period`, spec.period);
  const rule: CompiledRule = {
    spec,
    id: spec.id,
    key: Object.freeze([...spec.key]),
    limit: Object.freeze({ rate: spec.rate, periodMs, burst: spec.burst }),
    priority: spec.priority,
    mode: spec.mode,
    selectors: Object.entries(spec.match).map(
      ([name, v]) => [name, new Set((Array.isArray(v) ? v : [v]).map(String))] as const,
    ),
  };
  const fromMs = spec.effectiveFrom === undefined ? undefined : isoDateTimeMs(spec.effectiveFrom);
  const untilMs = spec.effectiveUntil === undefined ? undefined : isoDateTimeMs(spec.effectiveUntil);
  if (fromMs !== undefined) rule.fromMs = fromMs;
  if (untilMs !== undefined) rule.untilMs = untilMs;
  return Object.freeze(rule);
}
