/**
 * Options are parsed once, at the edge (STYLE.md): unknown keys are rejected,
 * every problem is reported in one error, units live in the names (`idleMs`),
 * and the result is a frozen, fully-required object.
 */
import { ErrorCode, HeadroomError, InputError, invalidField } from './errors.ts';
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
