/**
 * The rules a request's params match and their tokens, remembered by the
 * values of the params the rules read (their selectors and key fields:
 * nothing else decides which rules match or the tokens). A repeated
 * request then costs a map lookup per such param instead of matching every
 * rule and building each token string; and the token is the same string
 * each time, so every map keyed by tokens after it (the owner's actors,
 * the collector's sample, a client's leases) finds its hash already
 * computed instead of flattening and hashing a fresh one (issue 15: a
 * gateway and a client do this for every check of a batch).
 *
 * Answers exactly what {@link RuleSet.matching} and {@link tokenKeyOf}
 * give. Values are keyed as they are (`1` and `"1"` twice, with the same
 * answer). Rules with effective dates match the same way between two
 * consecutive dates: what is remembered holds from the last date at or
 * before `nowMs` to the next one after it, and is forgotten when `nowMs`
 * leaves that span (a clock stepping back included). A memo is for one
 * RuleSet (which never changes): a new rule set gets a new memo.
 */
import type { ParamValue, Params } from './params.ts';
import { tokenKeyOf } from './rule-set.ts';
import type { RuleSet } from './rule-set.ts';
import type { CompiledRule, TokenKey } from './rules.ts';

/** The rules some params match (highest priority first, then by id) and the token of each. Read only. */
export interface Matched {
  readonly rules: readonly CompiledRule[];
  readonly tokens: readonly TokenKey[];
}

/** Most param names a memo keys on (rule sets reading more are matched per request). */
const MAX_KEYED_NAMES = 4;

type Tree = Map<ParamValue | undefined, Tree | Matched>;

export class MatchMemo {
  readonly #rules: RuleSet;
  readonly #max: number;
  /** The param names the rules read, keyed in this order; undefined: too many, nothing remembered. */
  readonly #names: readonly string[] | undefined;
  /** Every effective date of the rules (ms), ascending. */
  readonly #dates: readonly number[];
  /** What is remembered holds for `nowMs` in [#from, #until). */
  #from = Number.POSITIVE_INFINITY;
  #until = Number.NEGATIVE_INFINITY;
  #tree: Tree = new Map();
  #size = 0;

  /**
   * @param maxEntries most params values remembered; past it the memo starts
   *   over (memory stays bounded under one-off values; the frequent ones come
   *   back on their next request)
   */
  constructor(rules: RuleSet, maxEntries: number) {
    this.#rules = rules;
    this.#max = maxEntries;
    const names = new Set<string>();
    const dates = new Set<number>();
    for (const r of rules.rules) {
      for (const [name] of r.selectors) names.add(name);
      for (const name of r.key) names.add(name);
      if (r.fromMs !== undefined) dates.add(r.fromMs);
      if (r.untilMs !== undefined) dates.add(r.untilMs);
    }
    this.#names = names.size <= MAX_KEYED_NAMES ? [...names] : undefined;
    this.#dates = [...dates].sort((a, b) => a - b);
  }

  /** The rule set this memo answers for. */
  get rules(): RuleSet {
    return this.#rules;
  }

  /** Params values remembered now. */
  get size(): number {
    return this.#size;
  }

  /**
   * What `params` match at `clock`: a time (ms), or a clock read only when
   * some rule has effective dates (`Date.now`: no clock read per request
   * otherwise).
   */
  get(params: Params, clock: number | (() => number)): Matched {
    const names = this.#names;
    // Without dates any time will do: the rules match the same at every time (the span is all of time).
    const nowMs = typeof clock === 'number' ? clock : this.#dates.length > 0 ? clock() : 0;
    if (names === undefined) return this.#compute(params, nowMs);
    if (!(nowMs >= this.#from && nowMs < this.#until) && !this.#restart(nowMs))
      return this.#compute(params, nowMs);
    let level = this.#tree;
    const last = names.length - 1;
    for (let i = 0; i < last; i++) {
      const v = own(params, names[i]!);
      let next = level.get(v) as Tree | undefined;
      if (next === undefined) {
        next = new Map();
        level.set(v, next);
      }
      level = next;
    }
    const v = last < 0 ? undefined : own(params, names[last]!);
    const known = level.get(v) as Matched | undefined;
    if (known !== undefined) return known;
    const matched = this.#compute(params, nowMs);
    if (this.#size >= this.#max) {
      // Starting over keeps memory bounded.
      this.#tree = new Map();
      this.#size = 0;
      return matched;
    }
    level.set(v, matched);
    this.#size++;
    return matched;
  }

  #compute(params: Params, nowMs: number): Matched {
    const rules = this.#rules.matching(params, nowMs);
    const tokens = new Array<TokenKey>(rules.length);
    for (let i = 0; i < rules.length; i++) tokens[i] = tokenKeyOf(rules[i]!, params);
    return { rules, tokens };
  }

  /** Forgets everything and spans the dates around `nowMs`; false when it is no time (NaN). */
  #restart(nowMs: number): boolean {
    this.#tree = new Map();
    this.#size = 0;
    if (Number.isNaN(nowMs)) {
      this.#from = Number.POSITIVE_INFINITY;
      this.#until = Number.NEGATIVE_INFINITY;
      return false;
    }
    let from = Number.NEGATIVE_INFINITY;
    let until = Number.POSITIVE_INFINITY;
    for (const d of this.#dates) {
      if (d <= nowMs) from = d;
      else {
        until = d;
        break;
      }
    }
    this.#from = from;
    this.#until = until;
    return true;
  }
}

/** Only own properties, as the rules read params (rule-set.ts). */
function own(params: Params, name: string): ParamValue | undefined {
  return Object.hasOwn(params, name) ? params[name] : undefined;
}
