/**
 * Client leases, the front end's side: `headroom.v1.lease` and
 * `headroom.v1.lease.return` on any node (handlers.ts). A lease is granted
 * by its token's owner only (leases.ts keeps the token's slices there), so
 * the node that got the request derives the token from the rules, as a
 * check does, and asks the owner: its own ThrottleNode when it owns the
 * token (the client routed it right, two messages), else the owner's
 * `throttle.lease` action (a stale client topology, or the queue group).
 * A return goes to the node that granted the slice, which alone knows it.
 * Leases are asked about once a second per token and client, so the relay
 * uses Moleculer, not the per-check link.
 */
import type { ServiceBroker } from 'moleculer';
import { ErrorCode, InputError, StateError, tokenKeyOf } from '../../lib/index.ts';
import type { Clock, RuleSet } from '../../lib/index.ts';
import { ACTOR_SERVICE } from '../cluster/index.ts';
import type { PlacementTracker } from '../cluster/index.ts';
import { refOf } from '../wire/index.ts';
import type { ThrottleNode } from './throttle-node.ts';
import type { LeaseAsk, LeaseGrant, LeaseRequest, LeaseReturn } from './lease-schema.ts';

export interface LeaseDeskDeps {
  broker: ServiceBroker;
  tracker: PlacementTracker;
  clock: Clock;
  rules: () => RuleSet;
  /** This node's owner side. */
  local: ThrottleNode;
  /** How long a relayed ask may take. */
  ownerTimeoutMs: number;
}

export class LeaseDesk {
  readonly #deps: LeaseDeskDeps;

  constructor(deps: LeaseDeskDeps) {
    this.#deps = deps;
  }

  /**
   * A slice of the token of the one rule `req.params` match, from its owner.
   * @throws InputError when no rule or several match (several tokens: check without a lease)
   * @throws StateError (retryable) when the owner grants none now or does not answer
   */
  async lease(req: LeaseRequest): Promise<LeaseGrant> {
    const rules = this.#deps.rules().matching(req.params, this.#deps.clock.now());
    if (rules.length !== 1) {
      throw new InputError(
        ErrorCode.InvalidField,
        `params must match exactly one rule to be leased, got ${JSON.stringify(req.params)} matching ${rules.length} (${rules.map((r) => r.id).join(', ') || 'none'})`,
        { field: 'params', value: req.params },
      );
    }
    const rule = rules[0]!;
    const ask: LeaseAsk = {
      client: req.client,
      token: tokenKeyOf(rule, req.params),
      rule: refOf(rule),
      want: req.want,
      // Reported checks are filed under them (collection), with this ask or the slice's return.
      params: req.params,
    };
    if (req.previous !== undefined) ask.previous = req.previous;
    if (req.report !== undefined) ask.report = req.report;
    const owner = this.#deps.tracker.owner(ask.token);
    if (owner === undefined) {
      throw new StateError(ErrorCode.NoOwner, `no live node hosts token actors (token ${ask.token})`, {
        field: 'params',
      });
    }
    if (owner === this.#deps.broker.nodeID) return await this.#deps.local.lease(ask);
    return await this.#relay<LeaseGrant>(owner, 'lease', ask);
  }

  /** Gives a slice back to the node that granted it; resolves the units returned to the bucket. */
  async giveBack(ret: LeaseReturn): Promise<{ returned: number }> {
    if (ret.node === this.#deps.broker.nodeID) return { returned: await this.#deps.local.leaseReturn(ret) };
    const { lease, token, unused, report } = ret;
    const relayed = report === undefined ? { lease, token, unused } : { lease, token, unused, report };
    return { returned: await this.#relay<number>(ret.node, 'leaseReturn', relayed) };
  }

  async #relay<T>(node: string, action: 'lease' | 'leaseReturn', params: object): Promise<T> {
    try {
      return await this.#deps.broker.call<T, object>(`${ACTOR_SERVICE}.${action}`, params, {
        nodeID: node,
        timeout: this.#deps.ownerTimeoutMs,
      });
    } catch (err) {
      // The owner's own coded refusal (a forged return, say) comes back as such.
      const e = err as { code?: unknown; message?: string };
      if (e.code === ErrorCode.RefundRejected)
        throw new InputError(ErrorCode.RefundRejected, e.message ?? 'return refused', { field: 'lease' });
      throw new StateError(
        ErrorCode.Unavailable,
        `node ${node} did not grant the ${action === 'lease' ? 'lease' : 'return'}: ${e.message ?? String(err)}`,
        { field: action === 'lease' ? 'params' : 'node', retryable: true, cause: err },
      );
    }
  }
}
