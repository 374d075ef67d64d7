/**
 * Field policies: what happens to each field before storage. A field with no
 * policy is dropped. Outputs are strings (or absent).
 */
import { ErrorCode, InputError, show } from '../errors.ts';
import { truncateIp } from './ip.ts';

export const PolicyKind = {
  Drop: 'drop',
  Hash: 'hash',
  Truncate: 'truncate',
  Generalise: 'generalise',
  Keep: 'keep',
} as const;
export type PolicyKind = (typeof PolicyKind)[keyof typeof PolicyKind];

/**
 * - `drop`: never stored.
 * - `hash`: keyed HMAC-SHA-256 under the current key.
 * - `truncate`: an IP to its prefix (`v4Prefix` default 24, `v6Prefix` default 48); a non-IP is dropped.
 * - `generalise`: a number to the band of `bands` (ascending edges) it falls in; a string to itself
 *   when listed in `values`, else `'other'`.
 * - `keep`: stored as given (still screened: an e-mail or IP address is redacted).
 */
export type FieldPolicy =
  | { kind: 'drop' }
  | { kind: 'hash' }
  | { kind: 'truncate'; v4Prefix?: number; v6Prefix?: number }
  | { kind: 'generalise'; bands?: number[]; values?: string[] }
  | { kind: 'keep' };

/** A policy as configured: the object, or just its kind where it has no settings. */
export type FieldPolicyInput = FieldPolicy | 'drop' | 'hash' | 'truncate' | 'keep';

export const OTHER = 'other';
export const REDACTED = 'redacted';

/** Validates a policy map; every problem in one InputError (InvalidOptions). */
export function parsePolicies(field: string, input: unknown): Record<string, FieldPolicy> {
  if (input === undefined) return {};
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new InputError(
      ErrorCode.InvalidOptions,
      `${field} must be an object of field policies, got ${show(input)}`,
      { field },
    );
  }
  const out: Record<string, FieldPolicy> = {};
  const problems: string[] = [];
  for (const [name, raw] of Object.entries(input)) {
    const f = `${field}.${name}`;
    const p = (typeof raw === 'string' ? { kind: raw } : raw) as Record<string, unknown> | null;
    const kind = p?.['kind'];
    if (p === null || typeof p !== 'object' || !Object.values(PolicyKind).includes(kind as PolicyKind)) {
      problems.push(`${f} must be one of ${Object.values(PolicyKind).join(', ')}, got ${show(raw)}`);
      continue;
    }
    const allowed: Record<PolicyKind, string[]> = {
      drop: [],
      hash: [],
      keep: [],
      truncate: ['v4Prefix', 'v6Prefix'],
      generalise: ['bands', 'values'],
    };
    for (const k of Object.keys(p)) {
      if (k !== 'kind' && !allowed[kind as PolicyKind].includes(k))
        problems.push(`${f}.${k} is not a setting of ${String(kind)}`);
    }
    if (kind === 'truncate') {
      for (const [k, max] of [
        ['v4Prefix', 32],
        ['v6Prefix', 128],
      ] as const) {
        const v = p[k];
        if (v !== undefined && (!Number.isInteger(v) || (v as number) < 0 || (v as number) > max)) {
          problems.push(`${f}.${k} must be an integer from 0 to ${max}, got ${show(v)}`);
        }
      }
    }
    if (kind === 'generalise') {
      const { bands, values } = p;
      if (bands === undefined && values === undefined) problems.push(`${f} needs bands or values`);
      if (
        bands !== undefined &&
        (!Array.isArray(bands) ||
          bands.some(
            (b, i) =>
              typeof b !== 'number' || !Number.isFinite(b) || (i > 0 && b <= (bands[i - 1] as number)),
          ))
      ) {
        problems.push(`${f}.bands must be ascending finite numbers, got ${show(bands)}`);
      }
      if (values !== undefined && (!Array.isArray(values) || values.some((v) => typeof v !== 'string'))) {
        problems.push(`${f}.values must be an array of strings, got ${show(values)}`);
      }
    }
    out[name] = p as FieldPolicy;
  }
  if (problems.length > 0) throw new InputError(ErrorCode.InvalidOptions, problems.join('; '), { field });
  return out;
}

/** A number's band among ascending `edges`: `<10`, `10-100`, `>=100`. */
export function bandOf(n: number, edges: readonly number[]): string {
  if (edges.length === 0) return OTHER;
  if (n < edges[0]!) return `<${edges[0]}`;
  for (let i = 1; i < edges.length; i++) if (n < edges[i]!) return `${edges[i - 1]}-${edges[i]}`;
  return `>=${edges[edges.length - 1]}`;
}

const EMAIL = /[^\s@]+@[^\s@]+\.[^\s@]+/;
const IPV4 = /\b\d{1,3}(\.\d{1,3}){3}\b/;
const IPV6 = /[0-9a-fA-F]{0,4}:[0-9a-fA-F]{0,4}:[0-9a-fA-F:.]*/;

/** Whether a kept value looks like an e-mail or an IP address (the last screen before storage). */
export function looksPersonal(s: string): boolean {
  return EMAIL.test(s) || IPV4.test(s) || IPV6.test(s);
}

/**
 * Applies one policy. `hash` calls back so that the caller's keyring decides
 * the key. Returns `undefined` to drop the field.
 */
export function applyPolicy(
  policy: FieldPolicy | undefined,
  value: unknown,
  hash: (s: string) => string,
): { value: string | undefined; redacted: boolean } {
  if (policy === undefined || value === undefined || value === null)
    return { value: undefined, redacted: false };
  const text =
    typeof value === 'string'
      ? value
      : typeof value === 'number' || typeof value === 'boolean'
        ? String(value)
        : undefined;
  if (text === undefined) return { value: undefined, redacted: false };
  let out: string | undefined;
  switch (policy.kind) {
    case 'drop':
      return { value: undefined, redacted: false };
    case 'hash':
      return { value: hash(text), redacted: false };
    case 'truncate':
      return { value: truncateIp(text, policy.v4Prefix, policy.v6Prefix), redacted: false };
    case 'generalise': {
      const n = typeof value === 'number' ? value : Number.NaN;
      if (policy.bands !== undefined && Number.isFinite(n)) out = bandOf(n, policy.bands);
      else out = policy.values?.includes(text) === true ? text : OTHER;
      break;
    }
    case 'keep':
      out = text;
      break;
  }
  return out !== undefined && looksPersonal(out)
    ? { value: REDACTED, redacted: true }
    : { value: out, redacted: false };
}
