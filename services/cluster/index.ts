// Entry file of services/cluster: membership and token placement on the
// Moleculer cluster. PlacementTracker reads the live nodes that host token
// actors from the registry (rendezvous placement, silent and suspected nodes
// routed around); Beats is the fast failure detector on the link; Ownership
// says when a token a node starts without its state is fenced; Handoff moves
// a token actor's state to its new owner when a node leaves or the placement
// changes. Runs in every node's process. Depends on lib/, actors/ and
// services/wire. Values first, then types.
export { ACTOR_SERVICE, PlacementTracker } from './placement-tracker.ts';
export { HANDOFF_WAIT_MS, Handoff, JOIN_WAIT_MS } from './handoff.ts';
export { Beats, beatSubject } from './beats.ts';
export { Ownership } from './ownership.ts';

export type { HandoffDeps } from './handoff.ts';
export type { BeatsOptions } from './beats.ts';
export type { ChangeReason, Fence, OwnerView, OwnershipOptions } from './ownership.ts';
