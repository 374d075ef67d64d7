import { invalidField } from './errors.ts';
import { isPlainObject } from './guards.ts';

/** One request parameter value, as it arrives in JSON. */
export type ParamValue = string | number | boolean;
/** The request parameters that rules match on and that form token keys. */
export type Params = Readonly<Record<string, ParamValue>>;

/** Most keys a params object may have. */
export const MAX_PARAM_KEYS = 64;
/** Longest param key, in UTF-16 code units. */
export const MAX_PARAM_KEY_LENGTH = 64;
/** Longest string param value, in UTF-16 code units. */
export const MAX_PARAM_STRING_LENGTH = 256;
/** Largest cost one request may claim. */
export const MAX_COST = 1e9;

/** True when `value` is a string of at most 256 characters, a finite number or a boolean. */
export function isParamValue(value: unknown): value is ParamValue {
  return (
    (typeof value === 'string' && value.length <= MAX_PARAM_STRING_LENGTH) ||
    (typeof value === 'number' && Number.isFinite(value)) ||
    typeof value === 'boolean'
  );
}

/** Expected-value text for error messages about a {@link ParamValue}. */
export const PARAM_VALUE_EXPECTED = `a string of at most ${MAX_PARAM_STRING_LENGTH} characters, a finite number or a boolean`;

/** True when `key` is usable as a param (or selector, or key field) name. */
export function isParamKey(key: string): boolean {
  return key.length > 0 && key.length <= MAX_PARAM_KEY_LENGTH;
}

/**
 * Validates request parameters: a plain object of at most 64 keys (each 1-64
 * characters) whose values are strings (<= 256 characters), finite numbers or
 * booleans. Returns a frozen copy.
 *
 * @throws InputError naming the bad entry, e.g. `params.user`.
 */
export function parseParams(value: unknown, field = 'params'): Params {
  return paramsOrUndefined(value) ?? parseParamsStrictly(value, field);
}

/**
 * The copy {@link parseParams} returns, when `value` is an ordinary valid
 * params object; undefined for anything else, which {@link parseParamsStrictly}
 * then accepts or rejects with its error. The check path runs this for every
 * request of a batch: no key list, no entry tuples, no field names built.
 */
export function paramsOrUndefined(value: unknown): Params | undefined {
  if (!isPlainObject(value)) return undefined;
  const out: Record<string, ParamValue> = {};
  let n = 0;
  for (const key in value) {
    // "__proto__" (an own key from JSON) is left to the strict path's fromEntries; an inherited
    // enumerable key (a polluted prototype) too, which Object.keys would not list.
    if (++n > MAX_PARAM_KEYS || !isParamKey(key) || key === '__proto__' || !Object.hasOwn(value, key))
      return undefined;
    const v = value[key];
    if (!isParamValue(v)) return undefined;
    out[key] = v;
  }
  return Object.freeze(out);
}

/**
 * {@link paramsOrUndefined} for params that nothing else holds (an object
 * fresh from JSON.parse): the same checks, but `value` itself is frozen and
 * returned instead of a copy of it, with the same own keys and values in the
 * same order (issue 15: the copy of each params object of a batch cost a
 * node about as much as decoding it). Undefined for anything else; then
 * {@link parseParams} copies or rejects it as always.
 */
export function ownParamsOrUndefined(value: unknown): Params | undefined {
  // What JSON.parse makes (a null-prototype object is copied, as paramsOrUndefined does).
  if (typeof value !== 'object' || value === null || Object.getPrototypeOf(value) !== Object.prototype)
    return undefined;
  let n = 0;
  for (const key in value) {
    // As paramsOrUndefined: "__proto__" and inherited keys go to the strict path (which copies).
    if (++n > MAX_PARAM_KEYS || !isParamKey(key) || key === '__proto__' || !Object.hasOwn(value, key))
      return undefined;
    if (!isParamValue((value as Record<string, unknown>)[key])) return undefined;
  }
  return Object.freeze(value) as Params;
}

/** {@link parseParams} without its fast path: every problem thrown with its field. */
function parseParamsStrictly(value: unknown, field: string): Params {
  if (!isPlainObject(value)) throw invalidField(field, 'an object of parameters', value);
  const keys = Object.keys(value);
  if (keys.length > MAX_PARAM_KEYS) {
    throw invalidField(field, `an object of at most ${MAX_PARAM_KEYS} parameters`, `${keys.length} keys`);
  }
  const entries: [string, ParamValue][] = [];
  for (const key of keys) {
    if (!isParamKey(key)) {
      throw invalidField(`${field} key`, `1 to ${MAX_PARAM_KEY_LENGTH} characters long`, key);
    }
    const v = value[key];
    if (!isParamValue(v)) throw invalidField(`${field}.${key}`, PARAM_VALUE_EXPECTED, v);
    entries.push([key, v]);
  }
  // fromEntries defines own properties, so a "__proto__" key stays a plain key.
  return Object.freeze(Object.fromEntries(entries));
}

/**
 * Validates a request's cost: absent means 1; otherwise a finite number
 * greater than 0 (fractions allowed) and at most 1e9.
 */
export function parseCost(value: unknown, field = 'cost'): number {
  if (value === undefined) return 1;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || value > MAX_COST) {
    throw invalidField(field, `a number greater than 0 and at most ${MAX_COST}`, value);
  }
  return value;
}
