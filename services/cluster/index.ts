// Entry file of services/cluster: membership and token placement on the
// Moleculer cluster. PlacementTracker reads the live nodes that host token
// actors from the registry (rendezvous placement, suspects routed around);
// Handoff moves a token actor's state to its new owner when a node leaves or
// the placement changes. Runs in every node's process. Depends on lib/,
// actors/ and services/wire. Values first, then types.
export { ACTOR_SERVICE, PlacementTracker } from './placement-tracker.ts';
export { HANDOFF_WAIT_MS, Handoff } from './handoff.ts';

export type { HandoffDeps } from './handoff.ts';
