// Entry file of services/nats: connecting to NATS as a node, a worker or
// `headroom call` does. Compiles the connection options (URL with its
// credentials redacted, user/password, token, NKey, creds file, TLS) into one
// spec, connects with coded errors, and reads the credentials that a node
// hands its process-pool workers through HEADROOM_NATS_* variables. Runs in
// the node's process and in its workers. Depends on lib/ only. Values first,
// then types.
export {
  NODE_INBOX_PREFIX,
  NatsAuthMethod,
  NatsConnectSpec,
  compileNatsConnect,
  connectError,
  connectNats,
} from './nats-connect.ts';
export {
  NATS_AUTH_FLAGS,
  NATS_AUTH_SCHEMA,
  defaultNatsAuthOptions,
  natsAuthEnv,
  natsAuthFromEnv,
  optNullableSecret,
} from './nats-auth-options.ts';
export { parseNatsUrl, redactUrl } from './nats-url.ts';
export { compileTls, withIpIdentity } from './nats-tls.ts';

export type { NatsAuthOptions } from './nats-auth-options.ts';
export type { UrlCredentials } from './nats-url.ts';
