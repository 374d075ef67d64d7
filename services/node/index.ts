// Entry file of services/node: startNode, the top of services/. It builds a
// node from its compiled options: the Moleculer broker on NATS (or alone,
// embedded), the rule store, the check path (gateway, owner link, token
// actors), collection, forecasting, pools, and the NATS and HTTP APIs; and
// stops them in order. Runs in the `headroom start` process (cli/start.ts)
// and in tests. Depends on every other folder of services/. Values first,
// then types.
export { startNode } from './node.ts';

export type { HeadroomNode, StartNodeExtras, StopReport } from './node.ts';
