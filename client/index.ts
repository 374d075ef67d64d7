// Entry file of client/, published as `headroom/client`: the TypeScript
// client library an application uses to ask for decisions. It reads the
// cluster's topology, sends each check straight to the node that owns its
// tokens (the nodes' own rendezvous placement and token keys, from lib/),
// batches checks to one owner queued in one turn of the event loop, and falls
// back to `headroom.v1.check` when a node is gone or slow. Wire protocol:
// docs/protocol.md. Depends on lib/, services/nats (the nodes' connection
// options) and the subject names of services/api/topology.ts; no Moleculer.
// Values first, then types.
export { HeadroomClient } from './headroom-client.ts';
export { compileClientOptions, defaultClientOptions } from './client-options.ts';
export { ClientTopology, parseTopology } from './topology.ts';
export { ErrorCode, HeadroomError, InputError, StateError } from '../lib/index.ts';

export type { CheckInput, CheckOptions, ClientStats } from './headroom-client.ts';
export type { LeaseStats } from './leases.ts';
export type { HeadroomClientInput, HeadroomClientOptions } from './client-options.ts';
export type { Destination, TopologyBody } from './topology.ts';
export type { CheckReply, Params } from '../lib/index.ts';
