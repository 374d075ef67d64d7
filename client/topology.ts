/**
 * The client's view of the cluster: the nodes tokens are placed on and the
 * rules, as a node publishes them (`headroom.v1.topology`, services/api/
 * topology.ts), validated like any input from the wire. It says which node
 * owns a check with the nodes' own code: the rules' matching and token keys
 * (lib/rule-set.ts) and rendezvous placement (lib/placement.ts), so a
 * client and a node with the same view agree on every owner. Nodes that
 * answered "no responders" are left out for a while (a node learns the same
 * from its heartbeats within about a second). Pure: no NATS.
 */
import {
  Placement,
  RuleSet,
  compileRule,
  invalidField,
  isPlainObject,
  parseStoredRule,
  tokenKeyOf,
} from '../lib/index.ts';
import type { CheckRequest, ParamValue, Params, RuleSpec } from '../lib/index.ts';

/** A topology as a node sends it (docs/protocol.md). */
export interface TopologyBody {
  version: string;
  node: string;
  nodes: string[];
  rules: RuleSpec[];
}

/** Most nodes and rules a topology may list (a bound on what a client holds). */
const MAX_NODES = 1024;
const MAX_RULES = 100_000;

/** Validates a topology from the wire; throws an InputError naming the field. */
export function parseTopology(body: unknown): TopologyBody {
  if (!isPlainObject(body)) throw invalidField('topology', 'an object', body);
  const { version, node, nodes, rules } = body as Record<string, unknown>;
  if (typeof version !== 'string' || !/^[0-9a-f]{8}$/.test(version))
    throw invalidField('topology.version', '8 hex digits', version);
  if (typeof node !== 'string' || node === '') throw invalidField('topology.node', 'a node id', node);
  if (
    !Array.isArray(nodes) ||
    nodes.length > MAX_NODES ||
    !nodes.every((n) => typeof n === 'string' && n !== '' && !/[\s*>]/.test(n))
  )
    throw invalidField('topology.nodes', `a list of at most ${MAX_NODES} node ids`, nodes);
  if (!Array.isArray(rules) || rules.length > MAX_RULES)
    throw invalidField('topology.rules', `a list of at most ${MAX_RULES} rules`, rules);
  return {
    version,
    node,
    nodes: nodes as string[],
    rules: rules.map((r, i) => parseStoredRule(r, `topology.rules[${i}]`)),
  };
}

/** Where a group of checks goes: a node's own subjects, or (undefined) any node through the queue group. */
export type Destination = string | undefined;

export class ClientTopology {
  readonly version: string;
  readonly nodes: readonly string[];
  readonly #rules: RuleSet;
  /** Node id -> until when (ms) it is left out. */
  readonly #suspects = new Map<string, number>();
  #placement: Placement;
  readonly #leaseTokens: LeaseTokens;

  constructor(body: TopologyBody) {
    this.version = body.version;
    this.nodes = Object.freeze([...body.nodes]);
    this.#rules = new RuleSet(body.rules.map(compileRule));
    this.#placement = new Placement(this.nodes);
    this.#leaseTokens = new LeaseTokens(this.#rules);
  }

  /** Carries the suspicions of `previous` that still run over to this view. */
  inherit(previous: ClientTopology, nowMs: number): void {
    for (const [id, until] of previous.#suspects) if (until > nowMs) this.#suspects.set(id, until);
    this.#place(nowMs);
  }

  /** Leaves `node` out until `untilMs` (it answered "no responders": it is gone or going). */
  suspect(node: string, untilMs: number, nowMs: number): void {
    if ((this.#suspects.get(node) ?? 0) >= untilMs) return;
    this.#suspects.set(node, untilMs);
    this.#place(nowMs);
  }

  /**
   * The node to send `req` to: the owner of its tokens (of its first token
   * when they have several owners: that node takes the others from theirs),
   * or undefined when no rule matches or no node is left (any node answers).
   */
  ownerOf(req: CheckRequest, nowMs: number): Destination {
    if (this.#suspects.size > 0) this.#expire(nowMs);
    const rules = this.#rules.matching(req.params, nowMs);
    const first = rules[0];
    return first === undefined ? undefined : this.#placement.owner(tokenKeyOf(first, req.params));
  }

  /**
   * The token of a check that matches exactly one rule (a lease covers one
   * token); undefined when it matches none or several. Remembered per
   * values of the params the rules read (see {@link LeaseTokens}): the
   * same string each time, so the leases' map lookup hashes it once.
   * `nowMs`: the time (ms), or a clock that is read only when some rule
   * has effective dates (`Date.now`: no clock read per check otherwise).
   */
  leaseToken(req: CheckRequest, nowMs: number | (() => number)): string | undefined {
    return this.#leaseTokens.get(req.params, nowMs);
  }

  /** The owner of `token` (undefined when no node is left). */
  ownerOfToken(token: string, nowMs: number): Destination {
    if (this.#suspects.size > 0) this.#expire(nowMs);
    return this.#placement.owner(token);
  }

  #expire(nowMs: number): void {
    let changed = false;
    for (const [id, until] of this.#suspects) {
      if (until <= nowMs) {
        this.#suspects.delete(id);
        changed = true;
      }
    }
    if (changed) this.#place(nowMs);
  }

  #place(nowMs: number): void {
    this.#placement = new Placement(this.nodes.filter((id) => (this.#suspects.get(id) ?? 0) <= nowMs));
  }
}

/** Most params values {@link LeaseTokens} remembers (it starts over when full). */
const MAX_LEASE_TOKENS = 10_000;
/** Most param names it keys on (rules reading more are matched per check). */
const MAX_KEYED_NAMES = 4;
/** A remembered "no token" (a Map answers undefined for "not remembered"). */
const NO_TOKEN = Symbol('no token');

type TokenTree = Map<ParamValue | undefined, TokenTree | string | typeof NO_TOKEN>;

/**
 * The lease token of params, remembered by the values of the params the
 * rules read (their selectors and key fields, nothing else decides which
 * rules match or the token): a hot token's check then costs a map lookup
 * per such param instead of matching every rule and building its token
 * string (which the leases' map then hashed afresh). Values are keyed as
 * they are (`1` and `"1"` twice, with the same answer). Rules with
 * effective dates match the same way between two consecutive dates: what
 * is remembered holds from the last date at or before `nowMs` to the next
 * one after it, and is forgotten when `nowMs` leaves that span (a clock
 * stepping back included). A topology's rules never change: a new
 * topology starts with nothing remembered.
 */
class LeaseTokens {
  readonly #rules: RuleSet;
  /** The param names the rules read, keyed in this order; undefined: too many, nothing remembered. */
  readonly #names: readonly string[] | undefined;
  /** Every effective date of the rules (ms), ascending. */
  readonly #dates: readonly number[];
  /** What is remembered holds for `nowMs` in [#from, #until). */
  #from = Number.POSITIVE_INFINITY;
  #until = Number.NEGATIVE_INFINITY;
  #tree: TokenTree = new Map();
  #size = 0;

  constructor(rules: RuleSet) {
    this.#rules = rules;
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

  get(params: Params, clock: number | (() => number)): string | undefined {
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
      let next = level.get(v) as TokenTree | undefined;
      if (next === undefined) {
        next = new Map();
        level.set(v, next);
      }
      level = next;
    }
    const v = last < 0 ? undefined : own(params, names[last]!);
    const known = level.get(v) as string | typeof NO_TOKEN | undefined;
    if (known !== undefined) return known === NO_TOKEN ? undefined : known;
    if (this.#size >= MAX_LEASE_TOKENS) {
      // Starting over keeps memory bounded; the hot tokens come back on their next checks.
      this.#tree = new Map();
      this.#size = 0;
      return this.get(params, nowMs);
    }
    const token = this.#compute(params, nowMs);
    level.set(v, token ?? NO_TOKEN);
    this.#size++;
    return token;
  }

  #compute(params: Params, nowMs: number): string | undefined {
    const rules = this.#rules.matching(params, nowMs);
    return rules.length === 1 ? tokenKeyOf(rules[0]!, params) : undefined;
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

/** Only own properties, as the rules read params (lib/rule-set.ts). */
function own(params: Params, name: string): ParamValue | undefined {
  return Object.hasOwn(params, name) ? params[name] : undefined;
}
