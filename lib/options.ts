/**
 * Options are parsed once, at the edge (STYLE.md): unknown keys are rejected,
 * every problem is reported in one error, units live in the names (`idleMs`),
 * and the result is a frozen, fully-required object.
 */
import type { Clock } from './clock.ts';
import { ErrorCode, HeadroomError, InputError, invalidField, show } from './errors.ts';
import { parseDurationMs } from './duration.ts';

/** Parses one option's raw value (from a file, the environment or a flag), throwing an InputError. */
export type OptionParser<T> = (value: unknown, field: string) => T;
export type OptionSchema<T> = { readonly [K in keyof T]-?: OptionParser<T[K]> };

/** One option that could not be used: its field and what is wrong. */
export interface OptionProblem {
  field: string;
  message: string;
}

/**
 * Merges `layers` (lowest precedence first) over `defaults`, parsing every
 * present value with its schema entry; `required` keys must end up defined.
 * Returns the merged values and every problem, for callers that add checks
 * of their own before {@link optionsError} reports them all.
 */
export function mergeOptions<T extends object>(
  name: string,
  schema: OptionSchema<T>,
  defaults: Partial<T>,
  layers: ReadonlyArray<Readonly<Record<string, unknown>> | undefined>,
  required: readonly string[] = [],
): { values: Record<string, unknown>; problems: OptionProblem[] } {
  const values: Record<string, unknown> = { ...(defaults as Record<string, unknown>) };
  const problems: OptionProblem[] = [];
  for (const layer of layers) {
    if (layer === undefined) continue;
    for (const [key, raw] of Object.entries(layer)) {
      if (raw === undefined) continue;
      const field = `${name}.${key}`;
      const parse = (schema as Record<string, OptionParser<unknown> | undefined>)[key];
      if (parse === undefined) {
        problems.push({
          field,
          message: `${field} is not a known option (known: ${Object.keys(schema).join(', ')})`,
        });
        continue;
      }
      try {
        values[key] = parse(raw, field);
      } catch (err) {
        problems.push({ field, message: err instanceof HeadroomError ? err.message : String(err) });
      }
    }
  }
  for (const key of required) {
    const field = `${name}.${key}`;
    if (values[key] === undefined && !problems.some((p) => p.field === field))
      problems.push({ field, message: `${field} is required` });
  }
  return { values, problems };
}

/** One InputError (code InvalidOptions) listing every problem; its `field` is the first one's. */
export function optionsError(problems: readonly OptionProblem[]): InputError {
  return new InputError(ErrorCode.InvalidOptions, problems.map((p) => p.message).join('; '), {
    field: problems[0]!.field,
  });
}

/**
 * Merges `layers` (lowest precedence first) over `defaults`, parsing every
 * present value with its schema entry. Throws one InputError with code
 * InvalidOptions listing every problem; its `field` is the first bad one.
 */
export function compileOptions<T extends object>(
  name: string,
  schema: OptionSchema<T>,
  defaults: T,
  ...layers: ReadonlyArray<Readonly<Record<string, unknown>> | undefined>
): Readonly<T> {
  const { values, problems } = mergeOptions(name, schema, defaults, layers);
  if (problems.length > 0) throw optionsError(problems);
  return Object.freeze(values as T);
}

/**
 * Compiles options given as one object in code (not layered from files and
 * the environment): `input` must be an object, `required` keys must be in it
 * or in `defaults`. Throws one InputError with code InvalidOptions listing
 * every problem; returns a frozen object.
 */
export function compileOptionsObject<T extends object>(
  name: string,
  schema: OptionSchema<T>,
  defaults: Partial<T>,
  input: unknown,
  required: readonly (keyof T & string)[] = [],
): Readonly<T> {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new InputError(ErrorCode.InvalidOptions, `${name} must be an object, got ${show(input)}`, {
      field: name,
    });
  }
  const { values, problems } = mergeOptions(
    name,
    schema,
    defaults,
    [input as Record<string, unknown>],
    required,
  );
  if (problems.length > 0) throw optionsError(problems);
  return Object.freeze(values as T);
}

/**
 * `problems` with those about unknown keys (fields `name.key` for a key not
 * in `schema`) moved to the front, the rest in their order: for option sets
 * whose error names a misspelt key first.
 */
export function unknownKeysFirst<T extends object>(
  name: string,
  schema: OptionSchema<T>,
  problems: readonly OptionProblem[],
): OptionProblem[] {
  const unknown = (p: OptionProblem): boolean =>
    p.field.startsWith(`${name}.`) && !Object.hasOwn(schema, p.field.slice(name.length + 1));
  return [...problems.filter(unknown), ...problems.filter((p) => !unknown(p))];
}

// Parsers for common option kinds. Strings from the environment or the
// command line are converted ("8080" -> 8080, "true" -> true).

export const optString: OptionParser<string> = (v, field) => {
  if (typeof v !== 'string' || v === '') throw invalidField(field, 'a non-empty string', v);
  return v;
};

export const optNullableString: OptionParser<string | null> = (v, field) =>
  v === null || v === '' ? null : optString(v, field);

export function optInt(min: number, max: number): OptionParser<number> {
  return (v, field) => {
    const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) {
      throw invalidField(field, `an integer from ${min} to ${max}`, v);
    }
    return n;
  };
}

/** A number from `min` (excluded when `exclusiveMin`) to `max`, fractions allowed; strings are converted ("2.5" -> 2.5). */
export function optNumber(min: number, max: number, exclusiveMin = false): OptionParser<number> {
  return (v, field) => {
    const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isFinite(n) || n > max || (exclusiveMin ? n <= min : n < min)) {
      throw invalidField(field, `a number from ${min}${exclusiveMin ? ' (excluded)' : ''} to ${max}`, v);
    }
    return n;
  };
}

/**
 * A moment as ms since the epoch, or null: a number, a string of digits, or
 * an ISO-8601 time with its offset ("2026-12-06T10:00:00Z").
 */
export const optNullableInstantMs: OptionParser<number | null> = (v, field) => {
  if (v === null || v === '') return null;
  const n =
    typeof v === 'number'
      ? v
      : typeof v === 'string' && /^\d+$/.test(v)
        ? Number(v)
        : typeof v === 'string' && /(Z|[+-]\d\d:\d\d)$/.test(v)
          ? Date.parse(v)
          : Number.NaN;
  if (!Number.isSafeInteger(n) || n < 0) {
    throw invalidField(field, 'ms since the epoch or an ISO-8601 time with its offset', v);
  }
  return n;
};

export function optNullableInt(min: number, max: number): OptionParser<number | null> {
  const int = optInt(min, max);
  return (v, field) => (v === null || v === '' ? null : int(v, field));
}

export const optBool: OptionParser<boolean> = (v, field) => {
  if (v === true || v === 'true' || v === '1' || v === 'yes') return true;
  if (v === false || v === 'false' || v === '0' || v === 'no') return false;
  throw invalidField(field, 'true or false', v);
};

export const optDurationMs: OptionParser<number> = (v, field) => {
  const n = typeof v === 'string' && /^\d+(\.\d+)?$/.test(v) ? Number(v) : v;
  return parseDurationMs(field, n);
};

export function optOneOf<const T extends string>(values: readonly T[]): OptionParser<T> {
  return (v, field) => {
    if (typeof v !== 'string' || !(values as readonly string[]).includes(v)) {
      throw invalidField(field, `one of ${values.join(', ')}`, v);
    }
    return v as T;
  };
}

/**
 * An integer from `min` to `max`, as a number only: for options given in
 * code or on the wire, where a string is a mistake rather than an
 * environment variable (compare {@link optInt}).
 */
export function optStrictInt(min: number, max: number): OptionParser<number> {
  return (v, field) => {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
      throw invalidField(field, `an integer from ${min} to ${max}`, v);
    }
    return v;
  };
}

/** An integer of at least 1, as a number (no strings). */
export const optPositiveInt: OptionParser<number> = (v, field) => {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0)
    throw invalidField(field, 'a positive integer', v);
  return v;
};

/** A positive, finite number of milliseconds, fractions allowed (no strings). */
export const optPositiveMs: OptionParser<number> = (v, field) => {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0)
    throw invalidField(field, 'a positive number of milliseconds', v);
  return v;
};

/**
 * A finite number of at least `min`, fractions allowed, as a number only (no
 * strings): for amounts given in code, such as a grace period that may be 0.
 */
export function optFiniteAtLeast(min: number): OptionParser<number> {
  return (v, field) => {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min)
      throw invalidField(field, `a finite number >= ${min}`, v);
    return v;
  };
}

/** A {@link Clock}: an object with `now`, `setTimeout` and `clearTimeout`. */
export const optClock: OptionParser<Clock> = (v, field) => {
  const c = v as Partial<Clock> | null;
  if (
    typeof c !== 'object' ||
    c === null ||
    typeof c.now !== 'function' ||
    typeof c.setTimeout !== 'function' ||
    typeof c.clearTimeout !== 'function'
  ) {
    throw invalidField(field, 'a Clock (now, setTimeout, clearTimeout)', v);
  }
  return c as Clock;
};

/** A function (a hook given in code); its signature is the caller's type `F`. */
export function optFunction<F>(): OptionParser<F> {
  return (v, field) => {
    if (typeof v !== 'function') throw invalidField(field, 'a function', v);
    return v as F;
  };
}
