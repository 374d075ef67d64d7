/**
 * Configuration read by `headroom start` from the working directory.
 * `headroom`: Headroom's node options (see services/runtime/node-options.ts); the
 * environment (HEADROOM_*) and command-line flags override them. They include
 * the NATS authentication every connection of the node uses (Moleculer's
 * transporter, the API and link connection, JetStream): `natsUrl` (may carry
 * `user:password@` or `token@`), `natsUser` + `natsPassword`, `natsToken`,
 * `natsNkeySeedFile`, `natsCredsFile`, and TLS `natsTlsCa`, `natsTlsCert` +
 * `natsTlsKey` (file paths). Better keep secrets out of this file: use
 * HEADROOM_NATS_PASSWORD / HEADROOM_NATS_TOKEN or the file options.
 *   headroom: { natsUrl: 'tls://nats.internal:4222', natsUser: 'node', natsTlsCa: '/etc/headroom/ca.pem' },
 * `broker`: extra Moleculer broker options (metrics, ...); Headroom sets the
 * transporter, node id, namespace, heartbeat and logger itself (one pino
 * logger: `--log-format json|pretty`, `--log-level`).
 */
export default {
  headroom: {},
  broker: {},
};
