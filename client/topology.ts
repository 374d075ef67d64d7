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
  MatchMemo,
  Placement,
  RuleSet,
  compileRule,
  invalidField,
  isPlainObject,
  parseStoredRule,
} from '../lib/index.ts';
import type { CheckRequest, RuleSpec } from '../lib/index.ts';

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
  /** The rules and tokens of params, remembered by the values the rules read (lib/match-memo.ts). */
  readonly #matched: MatchMemo;
  /**
   * Owners of the tokens routed since the placement last changed: a memo's
   * token is the same string each time, so this costs one lookup of a hash
   * already computed instead of hashing the token per check (placement.ts).
   */
  #owners = new Map<string, string | undefined>();

  constructor(body: TopologyBody) {
    this.version = body.version;
    this.nodes = Object.freeze([...body.nodes]);
    this.#rules = new RuleSet(body.rules.map(compileRule));
    this.#placement = new Placement(this.nodes);
    this.#matched = new MatchMemo(this.#rules, MAX_REMEMBERED);
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
    const first = this.#matched.get(req.params, nowMs).tokens[0];
    return first === undefined ? undefined : this.#ownerOf(first);
  }

  /**
   * The token of a check that matches exactly one rule (a lease covers one
   * token); undefined when it matches none or several. Remembered per
   * values of the params the rules read (lib/match-memo.ts): the
   * same string each time, so the leases' map lookup hashes it once.
   * `nowMs`: the time (ms), or a clock that is read only when some rule
   * has effective dates (`Date.now`: no clock read per check otherwise).
   */
  leaseToken(req: CheckRequest, nowMs: number | (() => number)): string | undefined {
    const m = this.#matched.get(req.params, nowMs);
    return m.tokens.length === 1 ? m.tokens[0] : undefined;
  }

  /** The owner of `token` (undefined when no node is left). */
  ownerOfToken(token: string, nowMs: number): Destination {
    if (this.#suspects.size > 0) this.#expire(nowMs);
    return this.#ownerOf(token);
  }

  /** `token`'s owner by the placement now, remembered until the placement changes (bounded). */
  #ownerOf(token: string): Destination {
    const owners = this.#owners;
    let owner = owners.get(token);
    if (owner === undefined && !owners.has(token)) {
      owner = this.#placement.owner(token);
      if (owners.size >= MAX_REMEMBERED) owners.clear();
      owners.set(token, owner);
    }
    return owner;
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
    this.#owners = new Map();
  }
}

/**
 * Most params values the topology remembers the matched rules and tokens of
 * (lib/match-memo.ts; it starts over when full).
 */
const MAX_REMEMBERED = 10_000;
