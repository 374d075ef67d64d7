// Entry file of services/api: the public API of a node. The operations and
// their handlers (check, rules, status, events, forecasts), served on NATS
// (`headroom.v1.*`, queue group) and over HTTP (bearer tokens off loopback,
// the dashboard), and the REPL commands. Runs in the node's process. Depends
// on lib/ and services/runtime, wire, cluster, rules, collection and check.
// Values first, then types.
export { Api, Operation } from './handlers.ts';
export { API_PREFIX, API_QUEUE, NatsApi } from './nats-api.ts';
export { startHttpApi } from './http-api.ts';
export { HttpAuth, isLoopbackHost } from './http-auth.ts';
export { parseKeyValues, replCommands } from './repl-commands.ts';

export type { ApiDeps, ReplyRoute, StatusNode } from './handlers.ts';
export type { HttpApi, HttpApiLog, HttpApiOptions } from './http-api.ts';
export type { HttpAuthOptions, HttpRole } from './http-auth.ts';
