import { isoDateTimeMs, MAX_RULE_PERIOD_MS, parseDurationMs, parseRulePeriodMs } from './duration.ts';
import { ErrorCode, InputError, invalidField, missingField, show } from './errors.ts';
import type { GcraLimit } from './gcra.ts';
import { isPlainObject } from './guards.ts';
import { isParamKey, isParamValue, MAX_PARAM_KEY_LENGTH, PARAM_VALUE_EXPECTED } from './params.ts';
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
  /** Requests (cost units) per `period`: finite, greater than 0, at most {@link MAX_RULE_RATE}. */
  rate: number;
  /**
   * A whole count and a unit (`ms`, `s`, `m`, `h`, `d`), from `"1ms"` to
   * `"7d"`: `"250ms"`, `"1s"`, `"1m"`. Kept as given.
   */
  period: string;
  /** Most cost units at once: at least 1, at most {@link MAX_RULE_RATE}. @default max(rate, 1) */
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
const ID_EXPECTED = '1 to 128 characters of A-Z a-z 0-9 _ . : -';
/** Largest `rate` and `burst` of a rule (the same bound as a request's cost). */
export const MAX_RULE_RATE = 1e9;
const MAX_KEY_FIELDS = 16;
const MAX_SELECTORS = 64;

/**
 * Whether `v` is a rule id: 1-128 characters of `[A-Za-z0-9_.:-]`. The one
 * test behind `rules.put`, `rules.get` and `rules.delete`, so an id that one
 * refuses the others refuse too; bounded so that its KV key (at most 3 bytes
 * per character, see kv-rule-store) stays far below NATS's control-line limit.
 */
export function isRuleId(v: unknown): v is string {
  return typeof v === 'string' && ID.test(v);
}

/**
 * Validates a rule id (see {@link isRuleId}).
 * @throws InputError: HEADROOM_ERR_MISSING_FIELD when absent, else HEADROOM_ERR_INVALID_FIELD, naming `field`.
 */
export function parseRuleId(value: unknown, field = 'id'): string {
  if (value === undefined) {
    throw missingField(field, ID_EXPECTED);
  }
  if (!isRuleId(value)) throw invalidField(field, ID_EXPECTED, value);
  return value;
}

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
  else if (!isRuleId(id)) bad('id', ID_EXPECTED);

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

  const rateExpected = `a positive number of at most ${MAX_RULE_RATE}`;
  if (rate === undefined) bad('rate', rateExpected, ErrorCode.MissingField);
  else if (!isRate(rate)) bad('rate', rateExpected);

  if (period === undefined) bad('period', 'a duration like "1s"', ErrorCode.MissingField);
  else {
    try {
      parseRulePeriodMs(`${field}.period`, period);
    } catch (err) {
      problems.push({
        code: ErrorCode.InvalidField,
        field: `${field}.period`,
        value: period,
        text: msg(err),
      });
    }
  }

  // Absent means "the rate"; an explicit null is a mistake like any other wrong type.
  const burst = input['burst'] === undefined ? (isRate(rate) ? Math.max(rate, 1) : 1) : input['burst'];
  if (typeof burst !== 'number' || !Number.isFinite(burst) || burst < 1 || burst > MAX_RULE_RATE)
    bad('burst', `a number from 1 to ${MAX_RULE_RATE}`);

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
    period: period as string,
    burst: burst as number,
    priority: priority as number,
    mode: mode as RuleMode,
  };
  if (fromMs !== undefined) spec.effectiveFrom = input['effectiveFrom'] as string;
  if (untilMs !== undefined) spec.effectiveUntil = input['effectiveUntil'] as string;
  return spec;
}

function isRate(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v) && v > 0 && v <= MAX_RULE_RATE;
}

/**
 * {@link parseRule} for a rule read back from a store (the rules bucket, the
 * rules file), written before periods were strict: a period that was valid
 * then (a number of ms, `"1.5s"`) and is a whole number of ms from 1 ms to
 * 7 days is rewritten as `"<n>ms"`, so the rule keeps its exact limit instead
 * of being dropped on upgrade. Anything else is validated as `parseRule` does.
 */
export function parseStoredRule(input: unknown, field = 'rule'): RuleSpec {
  if (isPlainObject(input) && input['period'] !== undefined) {
    const period = input['period'];
    let legacyMs: number | undefined;
    try {
      parseRulePeriodMs(`${field}.period`, period);
    } catch {
      try {
        legacyMs = parseDurationMs(`${field}.period`, period);
      } catch {
        // Not even a legacy duration: parseRule names it below.
      }
    }
    if (legacyMs !== undefined && Number.isInteger(legacyMs) && legacyMs <= MAX_RULE_PERIOD_MS) {
      return parseRule({ ...input, period: `${legacyMs}ms` }, field);
    }
  }
  return parseRule(input, field);
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
  const periodMs = parseRulePeriodMs(`rule.period`, spec.period);
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
