import { ErrorCode, InputError, show } from './errors.ts';
import type { Params } from './params.ts';
import type { CompiledRule, TokenKey } from './rules.ts';

/**
 * True when every selector matches (values compared as `String()`, so JSON
 * `1` and `"1"` are the same), `nowMs` is in [effectiveFrom, effectiveUntil),
 * and every key field is present in `params`.
 */
export function ruleApplies(rule: CompiledRule, params: Params, nowMs: number): boolean {
  if (rule.fromMs !== undefined && nowMs < rule.fromMs) return false;
  if (rule.untilMs !== undefined && nowMs >= rule.untilMs) return false;
  for (const [name, values] of rule.selectors) {
    const v = own(params, name);
    if (v === undefined || !values.has(String(v))) return false;
  }
  for (const name of rule.key) if (own(params, name) === undefined) return false;
  return true;
}

/** Only own properties: `params.toString` must not count as a "toString" param. */
function own(params: Params, name: string): Params[string] | undefined {
  return Object.hasOwn(params, name) ? params[name] : undefined;
}

const ESCAPES: Record<string, string> = { '%': '%25', '|': '%7C', '=': '%3D' };
const SPECIAL = /[%|=]/;
function escape(s: string): string {
  // Most values need no escaping: test first, allocate only when needed.
  return SPECIAL.test(s) ? s.replace(/[%|=]/g, (c) => ESCAPES[c] as string) : s;
}

/**
 * A rule's id and key field names, escaped once: the id, then `|name=` per
 * key field. They never change for a compiled rule, and every check builds
 * a token key (gateways, and clients routing to owners): two pattern tests
 * per check saved.
 */
interface KeyParts {
  id: string;
  fields: readonly string[];
}
const KEY_PARTS = new WeakMap<CompiledRule, KeyParts>();

function keyParts(rule: CompiledRule): KeyParts {
  let parts = KEY_PARTS.get(rule);
  if (parts === undefined) {
    parts = { id: escape(rule.id), fields: rule.key.map((name) => `|${escape(name)}=`) };
    KEY_PARTS.set(rule, parts);
  }
  return parts;
}

/**
 * The token of a request under a rule: `ruleId|field=value|...` in the rule's
 * key order, with `%`, `|` and `=` percent-escaped so that the encoding is
 * unambiguous. Values go through `String()`. A missing key field encodes as
 * an empty value; call {@link ruleApplies} first.
 *
 * @example tokenKeyOf(rule, { user: 'u1', op: 'GetItem' }) // "per-user|user=u1|op=GetItem"
 */
export function tokenKeyOf(rule: CompiledRule, params: Params): TokenKey {
  const parts = keyParts(rule);
  const key = rule.key;
  let s = parts.id;
  for (let i = 0; i < key.length; i++) {
    const v = own(params, key[i]!);
    s += parts.fields[i]! + (v === undefined ? '' : escape(String(v)));
  }
  return s as TokenKey;
}

/** The rule id a token belongs to. */
export function ruleIdOfToken(token: TokenKey): string {
  // Rule ids cannot contain '|', '%' or '=', so the id is never escaped.
  const bar = token.indexOf('|');
  return bar < 0 ? token : token.slice(0, bar);
}

/** An immutable set of compiled rules, ordered by priority (highest first), then id. */
export class RuleSet {
  readonly rules: readonly CompiledRule[];
  readonly #byId: ReadonlyMap<string, CompiledRule>;

  /** @throws InputError when two rules share an id. */
  constructor(rules: readonly CompiledRule[]) {
    const byId = new Map<string, CompiledRule>();
    for (const r of rules) {
      if (byId.has(r.id)) {
        throw new InputError(
          ErrorCode.InvalidField,
          `rules must have distinct ids, got ${show(r.id)} twice`,
          {
            field: 'rules',
            value: r.id,
          },
        );
      }
      byId.set(r.id, r);
    }
    this.#byId = byId;
    this.rules = Object.freeze(
      [...rules].sort((a, b) => b.priority - a.priority || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)),
    );
  }

  get(id: string): CompiledRule | undefined {
    return this.#byId.get(id);
  }

  /** The rules that apply to `params` at `nowMs`, highest priority first, then by id. */
  matching(params: Params, nowMs: number): CompiledRule[] {
    // A loop, not filter with a closure: ~4x faster per check (bench: 1.2 us vs 0.3 us for one rule).
    const out: CompiledRule[] = [];
    for (const r of this.rules) if (ruleApplies(r, params, nowMs)) out.push(r);
    return out;
  }
}
