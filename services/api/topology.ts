/**
 * What a client needs to send each check straight to its token's owner
 * (client/, docs/protocol.md): the nodes of this node's placement view (the
 * live nodes that own tokens, lib/placement.ts) and the rules (to derive a
 * check's tokens, lib/rule-set.ts), with a version that changes whenever
 * either does. Nodes with the same view and rules give the same version, so
 * a client can tell a change from a different node answering.
 *
 * This file imports nothing but lib/: the client library (client/) uses
 * its subjects too.
 *
 * A client's topology is advice only: a node answers a check for a token it
 * does not own through the normal gateway path (nats-api.ts), so a stale
 * topology costs a hop, never a wrong decision.
 */
import { hash32 } from '../../lib/index.ts';
import type { RuleSpec } from '../../lib/index.ts';

/** The reply of `headroom.v1.topology` and the body of `headroom.v1.topology.changed`. */
export interface Topology {
  /** 8 hex digits: a hash of `nodes` and `rules`; equal views give equal versions. */
  version: string;
  /** The node that answered (or published the notice). */
  node: string;
  /** The nodes tokens are placed on, sorted: rendezvous hashing over them gives each token's owner. */
  nodes: string[];
  /** Every rule, sorted by id, as `rules.list` returns them. */
  rules: RuleSpec[];
}

/** The public API's subject prefix: `headroom.v1.<op>`. */
export const API_PREFIX = 'headroom.v1';

/** The operation of the change notices every node publishes (no reply): `headroom.v1.topology.changed`. */
export const TOPOLOGY_CHANGED = 'topology.changed';

/** The operations a node answers on its own subjects (`headroom.v1.node.<id>.<op>`). */
export const NODE_OPS = [
  'check',
  'check.batch',
  'lease',
  'lease.batch',
  'lease.return',
  'lease.return.batch',
] as const;
export type NodeOp = (typeof NODE_OPS)[number];

/**
 * The shared operations of three tokens (`headroom.v1.lease.return.batch`):
 * the nodes' wildcard queue subscriptions stop at two tokens (a third would
 * take in `headroom.v1.node.<id>.check`, nats-api.ts), so each of these is
 * subscribed to by name in the same queue group.
 */
export const DEEP_OPS = ['lease.return.batch'] as const;

/** The subject of `op` on node `nodeId`'s own API: a client sends checks for the node's tokens there. */
export function nodeSubject(nodeId: string, op: NodeOp): string {
  return `${API_PREFIX}.node.${nodeId}.${op}`;
}

/** The topology of a view: `nodes` as placed (sorted) and `rules` in any order. */
export function topologyOf(node: string, nodes: readonly string[], rules: readonly RuleSpec[]): Topology {
  const sortedNodes = [...nodes].sort();
  const sortedRules = [...rules].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const version = hash32(JSON.stringify([sortedNodes, sortedRules]))
    .toString(16)
    .padStart(8, '0');
  return { version, node, nodes: sortedNodes, rules: sortedRules };
}
