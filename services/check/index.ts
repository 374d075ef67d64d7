// Entry file of services/check: the check path. The Gateway derives a
// request's take items (tokens, rule refs, cost) from the rules, routes each
// to its owner (router.ts: the one router, also used by an owner whose view
// moved on; pipelined, batched lanes per owner) and combines the answers, or
// hands a check whose items all live on one other node to it whole, items
// and all (never parsed or matched twice); the OwnerLink carries takes,
// refunds and forwarded checks between nodes on plain NATS request/reply;
// ThrottleNode is the owner's side (the token actors, created with their
// rule, their take ledger, dormant tokens and hand-offs), exposed to the
// cluster as the `throttle` Moleculer service. Runs in every node's process. Depends on lib/,
// actors/, collection/ and services/runtime, wire and cluster. Values first,
// then types.
export { FORWARDED, Gateway } from './gateway.ts';
export { noCheckMetrics, noLinkMetrics } from './check-metrics.ts';
export { MAX_INFLIGHT, OwnerLanes } from './owner-lanes.ts';
export { OwnerLink, linkSubject, linkTo } from './owner-link.ts';
export { ForwardLanes } from './forward-lanes.ts';
export { LinkRequests, SWEEP_MS } from './link-requests.ts';
export { gather, groupsOf, routeItems, soleRemoteOwner } from './router.ts';
export { REFUND_WINDOW_MS, ThrottleNode } from './throttle-node.ts';
export { throttleService } from './throttle-service.ts';
export { LeaseBook, compileLeaseOptions, defaultLeaseOptions, sliceTopUp } from './leases.ts';
export { LeaseDesk } from './lease-desk.ts';
export {
  MAX_REPORTED,
  parseLeaseAsk,
  parseLeaseBatch,
  parseLeaseRequest,
  parseLeaseReturn,
  parseLeaseReturnBatch,
} from './lease-schema.ts';
export { ONE_BY_ONE, recordReported } from './lease-demand.ts';

export type { GatewayDeps } from './gateway.ts';
export type { CheckMetrics, LinkDirection, LinkMetrics, LinkOp } from './check-metrics.ts';
export type { SendTakes } from './owner-lanes.ts';
export type { OwnerSide } from './owner-link.ts';
export type { Forward, ForwardAnswerer, SendForwards } from './forward-lanes.ts';
export type { ReplyHandlers, SubscriptionErrors } from './link-requests.ts';
export type { PlacementView, Routing } from './router.ts';
export type { OwnershipStatus, ThrottleDeps, ThrottleGuardStats } from './throttle-node.ts';
export type { LeaseOptions, SliceSizing } from './leases.ts';
export type {
  LeaseAsk,
  LeaseGrant,
  LeasePrevious,
  LeaseReport,
  LeaseRequest,
  LeaseReturn,
} from './lease-schema.ts';
